-- Identity documents and infants for Duffel orders (issue 6, defect 4).
--
-- Duffel's order passenger carries `identity_documents: [{type, unique_identifier,
-- issuing_country_code, expires_on}]`, mandatory when the offer says
-- `passenger_identity_documents_required`, and an adult carries `infant_passenger_id` for the
-- infant on their lap (reference/contracts-webhooks-setup.md §6.1, §6.2). This migration:
--
-- * travelers.identity_document: an optional document, ENCRYPTED AT REST like `pii`
--   (pgp_sym_encrypt of the JSON object {type, unique_identifier, issuing_country_code,
--   expires_on} under Vault secret traveler_data_key). Null: no document on file.
-- * app.create_traveler accepts an optional `identity_document` object of those four fields.
-- * app.monitor_passengers returns each traveller's `identity_document` (absent when none).
-- * app.monitor_claim_json adds `selected_offer.raw`: the passenger facts of the stored raw
--   offer (`passengers` with ids, types and ages, `passenger_identity_documents_required`,
--   `supported_passenger_identity_document_types`), absent when the raw offer was not kept. The
--   driver checks the travellers against it before it begins an attempt; the saga checks the
--   re-priced offer again before it authorizes.

alter table public.travelers
  add column identity_document bytea,
  -- An OpenPGP message, as for pii: plaintext cannot be stored by mistake.
  add constraint travelers_identity_document_encrypted check (
    identity_document is null
    or (octet_length(identity_document) between 16 and 4096
      and get_byte(identity_document, 0) in (140, 141, 195))
  );

comment on column public.travelers.identity_document is
  'pgp_sym_encrypt(json of type, unique_identifier, issuing_country_code, expires_on), same key as pii; null when none. No plaintext anywhere else.';

-- Validates an identity document object; 22023 naming the field (never its value).
create function app.traveler_document_checked(doc jsonb)
returns jsonb
language plpgsql
immutable
set search_path = ''
as $$
declare
  fields constant text[] := array['type', 'unique_identifier', 'issuing_country_code', 'expires_on'];
  k text;
begin
  if jsonb_typeof(doc) <> 'object' then
    raise exception using errcode = '22023', message = 'field identity_document must be an object or null';
  end if;
  for k in select e.key from jsonb_each(doc) as e loop
    if not k = any (fields) then
      raise exception using errcode = '22023', message = format('unknown field: identity_document.%s', left(k, 64));
    end if;
  end loop;
  foreach k in array fields loop
    if jsonb_typeof(doc -> k) is distinct from 'string' then
      raise exception using errcode = '22023', message = format('field identity_document.%s must be a string', k);
    end if;
  end loop;
  if (doc ->> 'type') not in ('passport', 'tax_id', 'known_traveler_number', 'passenger_redress_number') then
    raise exception using errcode = '22023',
      message = 'field identity_document.type must be passport, tax_id, known_traveler_number or passenger_redress_number';
  end if;
  if (doc ->> 'unique_identifier') !~ '^[A-Za-z0-9]{1,32}$' then
    raise exception using errcode = '22023',
      message = 'field identity_document.unique_identifier must be 1 to 32 letters or digits';
  end if;
  if (doc ->> 'issuing_country_code') !~ '^[A-Z]{2}$' then
    raise exception using errcode = '22023',
      message = 'field identity_document.issuing_country_code must be an ISO 3166-1 alpha-2 code';
  end if;
  if (doc ->> 'expires_on') !~ '^\d{4}-\d{2}-\d{2}$' then
    raise exception using errcode = '22023', message = 'field identity_document.expires_on must be an ISO date (YYYY-MM-DD)';
  end if;
  begin
    perform (doc ->> 'expires_on')::date;
  exception
    when others then
      raise exception using errcode = '22023', message = 'field identity_document.expires_on must be an ISO date (YYYY-MM-DD)';
  end;
  return jsonb_build_object(
    'type', doc ->> 'type',
    'unique_identifier', doc ->> 'unique_identifier',
    'issuing_country_code', doc ->> 'issuing_country_code',
    'expires_on', doc ->> 'expires_on'
  );
end
$$;

revoke all on function app.traveler_document_checked(jsonb) from public, anon, authenticated, service_role;

-- As before (20261123000100_travelers.sql), plus the optional `identity_document` object
-- (absent or null: none), validated by app.traveler_document_checked and encrypted apart.
create or replace function app.create_traveler(owner_id uuid, traveler jsonb)
returns uuid
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  fields constant text[] := array[
    'title', 'gender', 'given_name', 'family_name', 'born_on', 'email', 'phone_number'
  ];
  k text;
  v_type text;
  v_pii jsonb;
  v_doc jsonb;
  v_key text;
  v_id uuid;
begin
  if traveler is null or jsonb_typeof(traveler) <> 'object' then
    raise exception using errcode = '22023', message = 'traveler must be a JSON object';
  end if;
  for k in select e.key from jsonb_each(traveler) as e loop
    if not (k = any (fields) or k in ('passenger_type', 'identity_document')) then
      raise exception using errcode = '22023', message = format('unknown field: %s', left(k, 64));
    end if;
  end loop;
  foreach k in array fields loop
    if jsonb_typeof(traveler -> k) is distinct from 'string' or length(traveler ->> k) not between 1 and 200 then
      raise exception using errcode = '22023', message = format('field %s must be a non-empty string', k);
    end if;
  end loop;
  if (traveler ->> 'title') not in ('mr', 'ms', 'mrs', 'miss', 'dr') then
    raise exception using errcode = '22023', message = 'field title must be mr, ms, mrs, miss or dr';
  end if;
  if (traveler ->> 'gender') not in ('m', 'f') then
    raise exception using errcode = '22023', message = 'field gender must be m or f';
  end if;
  if (traveler ->> 'born_on') !~ '^\d{4}-\d{2}-\d{2}$' then
    raise exception using errcode = '22023', message = 'field born_on must be an ISO date (YYYY-MM-DD)';
  end if;
  perform (traveler ->> 'born_on')::date;
  if (traveler ->> 'email') !~ '^[^@\s]+@[^@\s]+$' then
    raise exception using errcode = '22023', message = 'field email must be an email address';
  end if;
  if (traveler ->> 'phone_number') !~ '^\+[1-9][0-9]{6,14}$' then
    raise exception using errcode = '22023', message = 'field phone_number must be E.164 (+4420…)';
  end if;
  if jsonb_typeof(traveler -> 'identity_document') is not null
    and jsonb_typeof(traveler -> 'identity_document') <> 'null' then
    v_doc := app.traveler_document_checked(traveler -> 'identity_document');
  end if;
  v_type := coalesce(traveler ->> 'passenger_type', 'adult');

  select jsonb_object_agg(f, traveler ->> f) into v_pii from unnest(fields) as f;

  v_key := app.traveler_data_key();
  begin
    insert into public.travelers (owner_id, passenger_type, pii, identity_document)
    values (
      create_traveler.owner_id,
      v_type,
      extensions.pgp_sym_encrypt(v_pii::text, v_key, 'cipher-algo=aes256'),
      case when v_doc is null then null
        else extensions.pgp_sym_encrypt(v_doc::text, v_key, 'cipher-algo=aes256') end
    )
    returning id into v_id;
  exception
    when foreign_key_violation then
      raise exception using errcode = 'P0002', message = 'owner not found';
  end;
  return v_id;
end
$$;

-- As before (20261123000600_monitor_api.sql), plus each traveller's `identity_document`
-- ({type, unique_identifier, issuing_country_code, expires_on}), absent when none is on file.
create or replace function app.monitor_passengers(args jsonb)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_trip_id uuid;
  v_trip public.trip_requests;
  v_needed integer;
  v_have integer;
  v_key text;
  v_passengers jsonb;
begin
  perform app.monitor_args(args, array['trip_id']);
  v_trip_id := app.arg_uuid(args, 'trip_id');
  select t.* into v_trip from public.trip_requests t where t.id = v_trip_id;
  if v_trip.id is null then
    raise exception using errcode = 'P0002', message = 'trip not found';
  end if;

  v_needed := v_trip.adults + cardinality(v_trip.child_ages);
  select count(*) into v_have
  from public.trip_travelers tt
  where tt.trip_id = v_trip_id and tt.position between 1 and v_needed;
  if v_have <> v_needed then
    return jsonb_build_object('passengers', null, 'reason', 'travelers_missing');
  end if;

  v_key := app.traveler_data_key();
  select jsonb_agg(
    jsonb_build_object(
      'title', p.pii ->> 'title',
      'gender', p.pii ->> 'gender',
      'given_name', p.pii ->> 'given_name',
      'family_name', p.pii ->> 'family_name',
      'born_on', p.pii ->> 'born_on',
      'email', p.pii ->> 'email',
      'phone_number', p.pii ->> 'phone_number'
    ) || case when p.doc is null then '{}'::jsonb else jsonb_build_object('identity_document', p.doc) end
    order by p.position
  )
  into v_passengers
  from (
    select
      tt.position,
      extensions.pgp_sym_decrypt(tr.pii, v_key)::jsonb as pii,
      case when tr.identity_document is null then null
        else extensions.pgp_sym_decrypt(tr.identity_document, v_key)::jsonb end as doc
    from public.trip_travelers tt
    join public.travelers tr on tr.id = tt.traveler_id
    where tt.trip_id = v_trip_id and tt.position between 1 and v_needed
  ) as p;

  return jsonb_build_object('passengers', v_passengers);
end
$$;

-- As before (20261123000600_monitor_api.sql), plus `selected_offer.raw`: the passenger facts of
-- the stored raw offer (no personal data), absent when the raw offer was not kept.
create or replace function app.monitor_claim_json(t public.trip_requests)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'trip', app.trip_json(t),
    'selected_offer', (
      select jsonb_build_object(
        'provider_offer_id', o.provider_offer_id,
        'total_minor', o.total_minor,
        'currency', o.currency,
        'expires_at', app.rfc3339(o.expires_at),
        'departing_at', app.local_datetime(o.departing_at)
      ) || case when jsonb_typeof(o.raw) = 'object' then jsonb_build_object('raw', jsonb_build_object(
          'passengers', coalesce(
            (select jsonb_agg(jsonb_build_object('id', p -> 'id', 'type', p -> 'type', 'age', p -> 'age'))
             from jsonb_array_elements(case when jsonb_typeof(o.raw -> 'passengers') = 'array'
               then o.raw -> 'passengers' else '[]'::jsonb end) as p),
            '[]'::jsonb),
          'passenger_identity_documents_required', o.raw -> 'passenger_identity_documents_required',
          'supported_passenger_identity_document_types', o.raw -> 'supported_passenger_identity_document_types'
        )) else '{}'::jsonb end
      from public.flight_offers o
      where o.id = t.selected_offer_id
    ),
    'attempt', (
      select jsonb_build_object('state', a.state)
      from public.booking_attempts a
      where a.trip_id = t.id and a.open
    ),
    'payment', (
      select jsonb_build_object('customer', p.stripe_customer_id, 'payment_method', p.stripe_payment_method_id)
      from public.payment_profiles p
      where p.owner_id = t.owner_id
    )
  )
$$;
