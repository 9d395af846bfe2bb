/**
 * The GDPR export (Art. 20) as a streamed JSON document: page after page of
 * `app.privacy_export` (each its own transaction as the caller, RLS and auth.uid() apply),
 * written out as they come, so an export of any size is never held in memory whole. The section
 * order and the paging are the database's (`next`); this file only frames the pages as one JSON
 * object (docs/privacy.md "The export document").
 */
import { callSql, type ExecContext } from "./engine.ts";

/** The document's format tag. */
export const EXPORT_FORMAT = "parker-flight-export/1";

interface Page {
  section: string;
  items: unknown[];
  next: { section: string; after: string | null } | null;
}

/** A stream of `{"format", "generated_at", "<section>": [items…], …}`; at most 1000 pages. */
export function exportStream(ctx: ExecContext, nowIso: string): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  let cursor: { section: string; after: string | null } | null = {
    section: "account",
    after: null,
  };
  let open: string | null = null;
  let pages = 0;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(
        enc.encode(
          `{"format":${JSON.stringify(EXPORT_FORMAT)},"generated_at":${JSON.stringify(nowIso)}`,
        ),
      );
    },
    async pull(controller) {
      try {
        if (cursor === null || pages >= 1000) {
          controller.enqueue(enc.encode(open === null ? "}" : "]}"));
          controller.close();
          if (cursor !== null) ctx.log.warn("export truncated", { pages });
          return;
        }
        pages++;
        const args = cursor.after === null ? { section: cursor.section } : cursor;
        const page = JSON.parse(await callSql(ctx, "privacy_export", "user", args)) as Page;
        let out = "";
        if (open !== page.section) {
          out += (open === null ? "" : "]") + `,${JSON.stringify(page.section)}:[`;
          open = page.section;
          out += page.items.map((i) => JSON.stringify(i)).join(",");
        } else if (page.items.length > 0) {
          out += "," + page.items.map((i) => JSON.stringify(i)).join(",");
        }
        controller.enqueue(enc.encode(out));
        cursor = page.next;
      } catch (err) {
        // Headers are gone already: end the stream broken (the client sees invalid JSON, never a
        // document that looks complete) and log the code only.
        ctx.log.error("export failed", { code: (err as { code?: string }).code ?? "unknown" });
        controller.error(err);
      }
    },
  });
}
