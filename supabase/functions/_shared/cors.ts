/** CORS for browser callers, as Supabase's docs recommend: functions answer preflight themselves. */
export const corsHeaders: Record<string, string> = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Headers":
    "authorization, x-client-info, apikey, content-type, x-retry-count, traceparent, tracestate, baggage",
  "Access-Control-Allow-Methods": "POST, OPTIONS",
  "Access-Control-Max-Age": "86400",
};

/** The answer to an OPTIONS preflight. */
export function preflight(): Response {
  return new Response(null, { status: 204, headers: corsHeaders });
}
