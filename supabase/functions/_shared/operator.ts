/**
 * Operator credential: a signed-in user whose JWT `app_metadata` grants the operator role
 * (`app_metadata.role = "operator"` or `app_metadata.roles` containing `"operator"`; the rule is
 * the core's `ops::is_operator`). Supabase Auth lets only the service key write `app_metadata`
 * (the admin API), never the user, so once `auth.ts` has verified the token the claim can be
 * trusted. `user_metadata` never counts. The database checks the same claim again
 * (`app.is_operator()`).
 */
import type { UserClaims } from "./auth.ts";
import { isOperator } from "./core.ts";
import { HttpError } from "./http.ts";

/** Throws 403 `operator_required` unless the verified claims grant the operator role. */
export function requireOperator(claims: UserClaims): void {
  if (!isOperator(claims)) {
    throw new HttpError(403, "operator_required", "this needs an operator's account");
  }
}
