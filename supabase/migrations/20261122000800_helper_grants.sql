-- The trip_requests guard trigger and the trip_requests_infants_le_adults check call these pure
-- helpers as the role doing the write, so the roles that may write (service_role directly; the
-- app.* functions run as their owner) need EXECUTE on them. They read no data.
grant execute on function app.trip_status_transition_allowed(text, text) to authenticated, service_role;
grant execute on function app.infant_count(smallint[]) to authenticated, service_role;
