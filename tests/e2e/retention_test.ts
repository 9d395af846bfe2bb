/**
 * Store less and clean up (issue 8 items 1 and 2) end to end: a search through `trip-search`
 * against the fake Duffel's 40 offers stores the selected offer with its raw body and a few
 * alternatives without, and a price history point; a second search supersedes the first one's
 * offers, which the scheduled cleanup (`call app.cleanup_all()`, pg_cron's job command) deletes
 * while the selected offer stays; the search events past their retention go, and the traveller
 * still reads every price point through the `trips` function.
 */
import assert from "node:assert/strict";
import {
  callSearch,
  closeSql,
  e2eTest,
  newUser,
  randomRoute,
  scriptRoute,
  sql,
  tripBody,
} from "./helpers.ts";
import { call, type Json } from "./user_fn_helpers.ts";

e2eTest(
  "trip-search stores less, the cleanup job removes superseded offers, prices remain",
  async () => {
    const user = await newUser();
    const route = randomRoute();
    await scriptRoute({ ...route, currency: "GBP", offer_count: 40 });
    const first = await callSearch(tripBody(route, { max_total_minor: 1000000 }), user.jwt);
    assert.equal(first.status, 201, JSON.stringify(first.json));
    const tripId = (first.json.trip as { id: string }).id;
    const selected1 = (first.json.selected_offer as { id: string }).id;

    const [kept] = await sql()`select pipeline_settings.offers_kept_per_search as k
    from public.pipeline_settings`;
    const rows1 = await sql()`select id, raw is not null as has_raw from public.flight_offers
    where trip_id = ${tripId}`;
    assert.ok(rows1.length >= 2 && rows1.length <= kept.k + 2, `stored ${rows1.length} of 40`);
    assert.deepEqual(
      rows1.filter((r) => r.has_raw).map((r) => r.id),
      [selected1],
      "only the selected offer keeps its raw body",
    );
    const [point] = await sql()`select offers_seen, best_total_minor, selected_total_minor
    from public.price_history where trip_id = ${tripId}`;
    assert.equal(point.offers_seen, 40);
    assert.ok(Number(point.best_total_minor) <= Number(point.selected_total_minor));

    // A second search; the fake's offer ids are new on every search.
    const again = await callSearch({ trip_id: tripId }, user.jwt);
    assert.equal(again.status, 200, JSON.stringify(again.json));
    const selected2 = (again.json.selected_offer as { id: string }).id;
    assert.notEqual(selected2, selected1);

    // The search events are past their retention (aged here, as a year would).
    await sql()`update public.pipeline_events set occurred_at = now() - interval '500 days'
    where trip_id = ${tripId}`;
    // Other tests' rows may be due too; run until nothing is left for the jobs.
    await sql()`call app.cleanup_all()`;

    const rows2 = await sql()`select id, updated_at >= (select max(observed_at)
      from public.price_history where trip_id = ${tripId}) as current
    from public.flight_offers where trip_id = ${tripId}`;
    assert.ok(rows2.some((r) => r.id === selected2), "the selected offer stays");
    assert.ok(!rows2.some((r) => r.id === selected1), "the first search's selection is superseded");
    assert.ok(rows2.every((r) => r.current), "only the latest search's offers remain");
    const [events] = await sql()`select count(*)::int as n from public.pipeline_events
    where trip_id = ${tripId}`;
    assert.equal(events.n, 0, "events past retention are deleted");
    const runs = await sql()`select job from public.cleanup_runs
    where started_at > now() - interval '5 minutes' group by job order by job`;
    assert.deepEqual(
      runs.map((r) => r.job as string).sort(),
      [
        "alert_deliveries",
        "finished_trip_offers",
        "monitor_runs",
        "notifications",
        "offers",
        "pipeline_events",
        "traveler_data",
        "trip_summaries",
        "webhook_events",
      ],
      "each job logged its run",
    );

    // The traveller's price chart survives the events' retention.
    const got = await call("trips", { action: "get", trip_id: tripId }, user.jwt);
    assert.equal(got.status, 200, JSON.stringify(got.json));
    const prices = got.json.trip.prices as Json[];
    assert.equal(prices.length, 2);
    assert.ok(prices.every((p: Json) => typeof p.best === "string" && p.best.startsWith("GBP ")));
    await closeSql();
  },
);
