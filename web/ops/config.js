// Where the ops function lives. On a static host set the project's functions URL, e.g.
// globalThis.OPS_CONFIG = { functionsUrl: "https://<project-ref>.supabase.co/functions/v1" };
// Empty = this page's own origin + /functions/v1 (the local stack serves both).
globalThis.OPS_CONFIG = { functionsUrl: "" };
