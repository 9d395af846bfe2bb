/**
 * The decision log carries the invocation's correlation id (issue 6, defect 10): the executor
 * sets `app.correlation_id` in every SQL transaction, so a `pipeline_events` row can be tied to
 * the log lines of the request that wrote it.
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

e2eTest("a search's decision-log row carries the caller's correlation id", async () => {
  const user = await newUser();
  const route = randomRoute();
  await scriptRoute({ ...route, currency: "GBP", offers: [{ total: "300.00", stops: 0 }] });
  const correlation = `corr-e2e-${crypto.randomUUID()}`;
  const res = await callSearch(tripBody(route), user.jwt, {
    headers: { "x-correlation-id": correlation },
  });
  assert.equal(res.status, 201, JSON.stringify(res.json));
  const tripId = (res.json.trip as { id: string }).id;
  const rows = await sql()`
    select correlation_id from public.pipeline_events where trip_id = ${tripId}`;
  assert.ok(rows.length > 0, "the search wrote a decision");
  for (const row of rows) assert.equal(row.correlation_id, correlation);
});

e2eTest("close the database pool", async () => {
  await closeSql();
});
