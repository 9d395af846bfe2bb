/**
 * Operator credential: a signed-in user whose JWT `app_metadata` grants the operator role
 * (`app_metadata.role = "operator"` or `app_metadata.roles` containing `"operator"`). Supabase
 * Auth lets only the service key write `app_metadata` (the admin API), never the user, so once
 * `auth.ts` has verified the token the claim can be trusted. `user_metadata` never counts. The
 * database checks the same claim again (`app.is_operator()`).
 */
import type { UserClaims } from "./auth.ts";
import { HttpError } from "./http.ts";

/** The role name operators carry in `app_metadata`. */
export const OPERATOR_ROLE = "operator";

/** True when verified claims grant the operator role. */
export function isOperator(claims: UserClaims): boolean {
  const meta = claims.app_metadata;
  if (!meta || typeof meta !== "object" || Array.isArray(meta)) return false;
  const m = meta as { role?: unknown; roles?: unknown };
  if (m.role === OPERATOR_ROLE) return true;
  return Array.isArray(m.roles) && m.roles.includes(OPERATOR_ROLE);
}

/** Throws 403 `operator_required` unless the caller is an operator. */
export function requireOperator(claims: UserClaims): void {
  if (!isOperator(claims)) {
    throw new HttpError(403, "operator_required", "this needs an operator's account");
  }
}
