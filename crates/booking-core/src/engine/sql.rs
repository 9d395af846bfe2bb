//! The SQL API the executor may call: the core's own list. Each entry is a function
//! `app.<name>(jsonb) returns jsonb` in `supabase/migrations/`; `tests/e2e/sql_api_test.ts`
//! checks every entry exists with that signature and the grants its role implies, and the
//! executor refuses any name not on this list.

use serde::{Deserialize, Serialize};

/// Whose rights a SQL call runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum SqlRole {
    /// The signed-in caller (`authenticated` with the caller's JWT claims): RLS applies.
    User,
    /// The pipeline (`service_role`): service-only functions.
    Service,
}

macro_rules! sql_functions {
    ($($(#[$doc:meta])* $variant:ident = $name:literal, $role:ident;)*) => {
        /// A function of the SQL API (`app.<name>(jsonb)`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
        #[serde(rename_all = "snake_case")]
        pub enum SqlFunction {
            $($(#[$doc])* $variant,)*
        }

        impl SqlFunction {
            /// Every function of the API.
            pub const ALL: &'static [SqlFunction] = &[$(Self::$variant,)*];

            /// The SQL name (in schema `app`).
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            /// Whose rights it runs with.
            pub fn role(self) -> SqlRole {
                match self {
                    $(Self::$variant => SqlRole::$role,)*
                }
            }
        }
    };
}

sql_functions! {
    /// trip-search: create the caller's trip request, or load one of theirs by id.
    SearchOpen = "search_open", User;
    /// trip-search: store a successful search (offers, selection, next check).
    SearchRecord = "search_record", User;
    /// trip-search: record a failed search and when to try again.
    SearchRecordFailure = "search_record_failure", User;
    /// Monitor: lease the due trips (the executor's own call, before any driver runs).
    MonitorClaim = "monitor_claim", Service;
    /// Monitor: the run's heartbeat and summary (the executor's own call, at the end).
    MonitorHeartbeat = "monitor_heartbeat", Service;
    /// Monitor: the next check time, with a decision-log row.
    MonitorReschedule = "monitor_reschedule", Service;
    /// Monitor: expire a trip.
    MonitorExpire = "monitor_expire", Service;
    /// Monitor: move the trip to `booking` and create the attempt row, compare-and-set.
    MonitorBeginAttempt = "monitor_begin_attempt", Service;
    /// Monitor: save the attempt state (compare-and-set) with its effects.
    MonitorSaveAttempt = "monitor_save_attempt", Service;
    /// Monitor: the trip's travellers, decrypted, for the order.
    MonitorPassengers = "monitor_passengers", Service;
    /// Monitor: store a search the monitor made.
    MonitorRecordSearch = "monitor_record_search", Service;
    /// Monitor: record a failed search the monitor made.
    MonitorRecordSearchFailure = "monitor_record_search_failure", Service;
    /// payment-methods: the caller's payment profile (created first for `setup`).
    PaymentProfileOpen = "payment_profile_open", User;
    /// payment-methods: store the Stripe customer created for the caller.
    PaymentCustomerRecord = "payment_customer_record", User;
    /// payment-methods: make one of the caller's cards the default.
    PaymentDefaultSet = "payment_default_set", User;
    /// payment-methods: forget a detached card (default and consents).
    PaymentMethodForget = "payment_method_forget", User;
    /// payment-methods: record the caller's consent to off-session charges.
    ConsentRecord = "consent_record", User;
    /// stripe-webhook: has the event been seen, and the ledger/profile it concerns.
    StripeEventContext = "stripe_event_context", Service;
    /// stripe-webhook: record the event once, with its effects and alerts.
    StripeEventRecord = "stripe_event_record", Service;
    /// Monitor: flag an attempt for an operator (a ledger that cannot close, travellers
    /// unreadable for hours): trip `needs_operator`, an operator alert, the traveller's email.
    MonitorFlagAttempt = "monitor_flag_attempt", Service;
    /// duffel-webhook: record a verified event once, against its booking, with its effects.
    DuffelWebhookRecord = "duffel_webhook_record", Service;
    /// travelers: the caller's profiles, decrypted.
    TravelersList = "travelers_list", User;
    /// travelers: store a new profile for the caller (encrypted).
    TravelersCreate = "travelers_create", User;
    /// travelers: replace one of the caller's profiles.
    TravelersUpdate = "travelers_update", User;
    /// travelers: delete one of the caller's profiles (refused while an attempt uses it).
    TravelersDelete = "travelers_delete", User;
    /// travelers: a trip's slots and the birth dates of the profiles to attach.
    TravelersAttachCheck = "travelers_attach_check", User;
    /// travelers: fill a trip's passenger slots (compare-and-set on the profiles' versions).
    TravelersAttach = "travelers_attach", User;
    /// trips: the caller's trips with price history and booking.
    TripsList = "trips_list", User;
    /// trips: one of the caller's trips with its decision log.
    TripsGet = "trips_get", User;
    /// trips: pause, resume, cancel or change one of the caller's trips.
    TripsControl = "trips_control", User;
    /// notify-dispatch: lease due notifications with what their templates need (the
    /// executor's own call, before any driver runs).
    NotifyClaim = "notify_claim", Service;
    /// notify-dispatch: persist the exact Resend request and mark the row `sending`.
    NotifySending = "notify_sending", Service;
    /// notify-dispatch: sent, retry later, dead or suppressed.
    NotifyFinish = "notify_finish", Service;
    /// resend-webhook: record a verified event once per svix-id.
    ResendEvent = "resend_event", Service;
    /// privacy: start or resume the caller's erasure (GDPR Art. 17).
    PrivacyErase = "privacy_erase", User;
    /// privacy-operator: start or resume the erasure of a user id (requests received by email).
    ErasureOpen = "erasure_open", Service;
    /// privacy: record an erasure step as done and do the next database work.
    ErasureAdvance = "erasure_advance", Service;
    /// privacy: one page of the caller's data export (GDPR Art. 20).
    PrivacyExport = "privacy_export", User;
    /// Monitor: the feature flags, read once per run and handed to every trip driver.
    MonitorFlags = "monitor_flags", Service;
    /// health: the database's numbers for the checks (backlogs, heartbeat, money held).
    HealthSnapshot = "health_snapshot", Service;
    /// Monitor: several drivers' waiting-turn writes (reschedule, expire, record a search or
    /// its failure) in one transaction, each in its own savepoint (the executor's group commit;
    /// each driver still hears its own answer only after the commit).
    MonitorBatch = "monitor_batch", Service;
    /// ops: everything the dashboard shows (the caller must be an operator).
    OpsOverview = "ops_overview", User;
    /// ops: the pipeline metrics over a window (operators; also the service).
    PipelineMetrics = "pipeline_metrics", User;
    /// ops: pause or resume the monitor, recorded in operator_actions.
    OpsSetMonitor = "ops_set_monitor", User;
    /// ops: change a flag's rollout through app.set_feature_flag (audited).
    OpsSetFlag = "ops_set_flag", User;
    /// trips: the payment an attempt waits for the traveller to authenticate (details, done,
    /// another card).
    TripsPayment = "trips_payment", User;
    /// privacy: Stripe refused to delete the erased user's customer (4xx other than 404);
    /// recorded on the erasure row for the `erasure_stripe_refused` alert.
    ErasureStripeRefused = "erasure_stripe_refused", Service;
}

impl SqlFunction {
    /// The function that may carry this call in one transaction with other drivers' calls
    /// (`monitor_batch`, each call in its own savepoint), or `None` when the call must have a
    /// transaction of its own. The monitor's per-trip writes are batched: those that end a
    /// waiting turn and the money steps (begin, save attempt, flag). Each locks only its own
    /// trip's rows (and the flags `FOR SHARE`), each caller hears its answer only after the
    /// batch committed, so a driver still acts only on a persisted write; a batch that fails
    /// as a whole fails each of its calls, which the saga treats as that call failing. Reads
    /// (the travellers, the flags), the claim and the heartbeat are never batched.
    pub fn batch(self) -> Option<Self> {
        match self {
            Self::MonitorReschedule
            | Self::MonitorExpire
            | Self::MonitorRecordSearch
            | Self::MonitorRecordSearchFailure
            | Self::MonitorBeginAttempt
            | Self::MonitorSaveAttempt
            | Self::MonitorFlagAttempt => Some(Self::MonitorBatch),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case_and_match_serde() {
        let mut seen = std::collections::HashSet::new();
        for f in SqlFunction::ALL {
            assert!(seen.insert(f.name()), "{} twice", f.name());
            assert!(f
                .name()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_'));
            assert_eq!(serde_json::to_value(f).unwrap(), f.name());
            let back: SqlFunction = serde_json::from_value(f.name().into()).unwrap();
            assert_eq!(back, *f);
        }
    }

    #[test]
    fn only_the_monitors_per_trip_writes_are_batched_and_as_the_service() {
        let mut batched: Vec<_> = SqlFunction::ALL
            .iter()
            .filter(|f| f.batch().is_some())
            .map(|f| f.name())
            .collect();
        batched.sort_unstable();
        assert_eq!(
            batched,
            [
                "monitor_begin_attempt",
                "monitor_expire",
                "monitor_flag_attempt",
                "monitor_record_search",
                "monitor_record_search_failure",
                "monitor_reschedule",
                "monitor_save_attempt"
            ]
        );
        for f in SqlFunction::ALL {
            if let Some(b) = f.batch() {
                assert_eq!(b, SqlFunction::MonitorBatch);
                assert_eq!(f.role(), b.role());
            }
        }
        assert_eq!(SqlFunction::MonitorBatch.batch(), None);
    }

    #[test]
    fn only_the_user_functions_run_as_the_user() {
        for f in SqlFunction::ALL {
            assert_eq!(
                f.role() == SqlRole::User,
                [
                    "search_",
                    "travelers_",
                    "trips_",
                    "payment_",
                    "consent_",
                    "privacy_",
                    "ops_",
                    "pipeline_metrics"
                ]
                .iter()
                .any(|p| f.name().starts_with(p)),
                "{}",
                f.name()
            );
        }
    }
}
