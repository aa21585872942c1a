//! Consent state and its enforcement by construction: a grant backfills the grantee's rows
//! for the granted scopes from the patient's entries (in the same transaction); a
//! revocation deletes the grantee's rows for the scopes no other active consent still covers,
//! past entries included; expiry is filtered at read time and swept (see `sweep.rs`).
//!
//! "Active" when applying an event means: not revoked, and not expired at the event's
//! `recorded_at` (the log's clock), so that a rebuild decides exactly as the live projection
//! did. Wall-clock expiry is the read filter's and the sweep's business.

use std::collections::BTreeSet;

use carelog_schemas::consent::ConsentEvent;
use carelog_schemas::values::{GranteeRole, Scope};
use carelog_schemas::{EventPayload, RecordedEvent};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::entry::{Audience, Basis, Reach};
use crate::state::{BatchState, ConsentRecord, NewConsent};
use crate::ProjectionError;

/// The SQL condition "an active consent, at `$now_param`, lets the reader of row `r` (of
/// `entry_readers`) see entry `t` (of `entries`)": one definition for the read filter and the
/// sweep.
pub(crate) fn consent_covers(now_param: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM consents c
            WHERE c.patient_id = r.patient_id AND c.grantee_id = r.viewer_id
              AND c.grantee_role = r.audience AND c.revoked_at IS NULL
              AND (c.expires_at IS NULL OR c.expires_at > {now_param})
              AND (r.basis = 'own' OR t.scope = ANY(c.scopes)))"
    )
}

/// The SQL condition "row `r` of `entry_readers` is for entry `t` of `entries`".
pub(crate) const READS_ENTRY: &str = "t.patient_id = r.patient_id AND t.position = r.position
    AND t.event_index = r.event_index AND t.item = r.item";

/// One active consent of a patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ActiveConsent {
    pub(crate) grantee_id: Uuid,
    pub(crate) audience: Audience,
    pub(crate) scopes: std::sync::Arc<BTreeSet<String>>,
}

/// The patient's consents active at an instant.
#[derive(Debug, Clone, Default)]
pub(crate) struct ActiveConsents(Vec<ActiveConsent>);

impl ActiveConsents {
    /// The consents of `records` (in the order they were granted) active at `at`.
    pub(crate) fn at(records: &[ConsentRecord], at: OffsetDateTime) -> ActiveConsents {
        ActiveConsents(
            records
                .iter()
                .filter(|record| record.active_at(at))
                .map(|record| ActiveConsent {
                    grantee_id: record.grantee_id,
                    audience: record.audience,
                    scopes: record.scopes.clone(),
                })
                .collect(),
        )
    }

    /// Grantees of one kind whose active consents cover `scope` (once per consent: a grantee
    /// may come more than once).
    pub(crate) fn grantees_with(
        &self,
        audience: Audience,
        scope: Scope,
    ) -> impl Iterator<Item = Uuid> + '_ {
        self.0
            .iter()
            .filter(move |consent| {
                consent.audience == audience && consent.scopes.contains(scope.as_str())
            })
            .map(|consent| consent.grantee_id)
    }

    /// Whether this grantee holds any active consent at all.
    pub(crate) fn any_for(&self, audience: Audience, grantee_id: Uuid) -> bool {
        self.0
            .iter()
            .any(|consent| consent.audience == audience && consent.grantee_id == grantee_id)
    }

    /// Every grantee of one kind holding any active consent (once per consent).
    pub(crate) fn grantees(&self, audience: Audience) -> impl Iterator<Item = Uuid> + '_ {
        self.0
            .iter()
            .filter(move |consent| consent.audience == audience)
            .map(|consent| consent.grantee_id)
    }
}

fn audience_of(role: GranteeRole) -> Audience {
    match role {
        GranteeRole::Clinic => Audience::Clinic,
        GranteeRole::Therapist => Audience::Therapist,
    }
}

/// The grantee a consent event names (the grant's, or the revoked consent's).
pub(crate) fn grantee_of(state: &BatchState, event: &RecordedEvent) -> Option<(Audience, Uuid)> {
    match &event.payload {
        EventPayload::Consent(ConsentEvent::ConsentGranted(granted)) => Some((
            audience_of(granted.grantee_role),
            *granted.grantee_id.as_uuid(),
        )),
        EventPayload::Consent(ConsentEvent::ConsentRevoked(revoked)) => state
            .patient(*event.envelope.patient_id.as_uuid())
            .consents
            .iter()
            .find(|consent| consent.consent_id == *revoked.consent_id.as_uuid())
            .map(|consent| (consent.audience, consent.grantee_id)),
        _ => None,
    }
}

/// Applies a grant or a revocation to the consents and the grantee's rows. Runs after the
/// event's own entries are given; `had_history` says whether the patient had any entry before
/// this event (a grant to a patient without history has nothing to backfill).
pub(crate) async fn apply(
    connection: &mut PgConnection,
    state: &mut BatchState,
    event: &RecordedEvent,
    position: i64,
    had_history: bool,
) -> Result<(), ProjectionError> {
    let patient_id = *event.envelope.patient_id.as_uuid();
    let recorded_at = event.envelope.recorded_at.to_datetime();
    match &event.payload {
        EventPayload::Consent(ConsentEvent::ConsentGranted(granted)) => {
            let consent_id = *granted.consent_id.as_uuid();
            if state
                .patient(patient_id)
                .consents
                .iter()
                .any(|consent| consent.consent_id == consent_id)
            {
                return Err(ProjectionError::Inconsistent {
                    position: crate::from_db_position(position),
                    reason: "the patient already has a consent with this id",
                });
            }
            let scopes: Vec<String> = granted
                .scopes
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect();
            let expires_at = granted.expires_at.map(|at| at.to_datetime());
            let audience = audience_of(granted.grantee_role);
            let grantee_id = *granted.grantee_id.as_uuid();
            state.grant(
                audience,
                NewConsent {
                    consent_id,
                    patient_id,
                    grantee_id,
                    grantee_role: granted.grantee_role.as_str(),
                    scopes: scopes.clone(),
                    purpose: granted.purpose.as_str().to_owned(),
                    granted_at: event.envelope.occurred_at.to_datetime(),
                    granted_position: position,
                    expires_at,
                },
            );
            if expires_at.is_some_and(|expires_at| expires_at <= recorded_at) || !had_history {
                return Ok(());
            }
            state
                .flush(connection)
                .await
                .map_err(ProjectionError::applying)?;
            if audience == Audience::Therapist {
                backfill_own(connection, patient_id, grantee_id)
                    .await
                    .map_err(ProjectionError::applying)?;
            }
            backfill(connection, patient_id, audience, grantee_id, &scopes)
                .await
                .map_err(ProjectionError::applying)?;
        }
        EventPayload::Consent(ConsentEvent::ConsentRevoked(revoked)) => {
            let consent_id = *revoked.consent_id.as_uuid();
            let patient = state.patient_mut(patient_id);
            let Some(consent) = patient
                .consents
                .iter_mut()
                .find(|consent| consent.consent_id == consent_id && !consent.revoked)
            else {
                tracing::warn!(
                    position,
                    "a revocation names no open consent; nothing to remove"
                );
                return Ok(());
            };
            consent.revoked = true;
            let (audience, grantee_id, scopes) =
                (consent.audience, consent.grantee_id, consent.scopes.clone());
            let remaining = ActiveConsents::at(&patient.consents, recorded_at);
            state
                .flush(connection)
                .await
                .map_err(ProjectionError::applying)?;
            revoke(
                connection,
                Revocation {
                    patient_id,
                    consent_id,
                    revoked_at: event.envelope.occurred_at.to_datetime(),
                    position,
                    audience,
                    grantee_id,
                    scopes,
                },
                &remaining,
            )
            .await
            .map_err(ProjectionError::applying)?;
        }
        _ => {}
    }
    Ok(())
}

/// A revocation to write.
struct Revocation {
    patient_id: Uuid,
    consent_id: Uuid,
    revoked_at: OffsetDateTime,
    position: i64,
    audience: Audience,
    grantee_id: Uuid,
    scopes: std::sync::Arc<BTreeSet<String>>,
}

/// Marks the consent revoked and deletes the grantee's rows of the scopes no remaining active
/// consent covers, and its own entries once it holds no consent at all.
async fn revoke(
    connection: &mut PgConnection,
    revocation: Revocation,
    remaining: &ActiveConsents,
) -> Result<(), sqlx::Error> {
    let Revocation {
        patient_id,
        consent_id,
        revoked_at,
        position,
        audience,
        grantee_id,
        scopes,
    } = revocation;
    sqlx::query(
        "UPDATE consents SET revoked_at = $3, revoked_position = $4
         WHERE consent_id = $1 AND patient_id = $2 AND revoked_at IS NULL",
    )
    .bind(consent_id)
    .bind(patient_id)
    .bind(revoked_at)
    .bind(position)
    .execute(&mut *connection)
    .await?;
    let still_covered: BTreeSet<&String> = remaining
        .0
        .iter()
        .filter(|consent| consent.audience == audience && consent.grantee_id == grantee_id)
        .flat_map(|consent| consent.scopes.iter())
        .collect();
    let revoked_scopes: Vec<&String> = scopes
        .iter()
        .filter(|scope| !still_covered.contains(scope))
        .collect();
    let statement = format!(
        "DELETE FROM entry_readers r USING entries t
         WHERE r.patient_id = $3 AND r.audience = $1 AND r.viewer_id = $2
           AND r.basis = 'consent' AND {READS_ENTRY} AND t.scope = ANY($4)"
    );
    sqlx::query(&statement)
        .bind(audience.as_str())
        .bind(grantee_id)
        .bind(patient_id)
        .bind(&revoked_scopes)
        .execute(&mut *connection)
        .await?;
    if !remaining.any_for(audience, grantee_id) {
        sqlx::query(
            "DELETE FROM entry_readers
             WHERE patient_id = $3 AND audience = $1 AND viewer_id = $2 AND basis = 'own'",
        )
        .bind(audience.as_str())
        .bind(grantee_id)
        .bind(patient_id)
        .execute(&mut *connection)
        .await?;
    }
    Ok(())
}

/// Gives the grantee a row for every entry of the granted scopes it may read (therapists also
/// the suggestions). Rows the grantee already has (as its own, or under another consent) stay
/// as they are, and a clinic's own course's entries need none (it reads them by `clinic_id`).
async fn backfill(
    connection: &mut PgConnection,
    patient_id: Uuid,
    audience: Audience,
    grantee_id: Uuid,
    scopes: &[String],
) -> Result<(), sqlx::Error> {
    let statement = format!(
        "INSERT INTO entry_readers (patient_id, audience, viewer_id, position, event_index,
             item, basis)
         SELECT patient_id, $1, $2, position, event_index, item, '{basis}' FROM entries
         WHERE patient_id = $3 AND scope = ANY($4)
           AND (reach = '{record}' OR ($1 = 'therapist' AND reach = '{suggestion}'))
           AND clinic_id IS DISTINCT FROM $2
         ON CONFLICT DO NOTHING",
        basis = Basis::Consent.as_str(),
        record = Reach::Record.as_str(),
        suggestion = Reach::TherapistSuggestion.as_str(),
    );
    let copied = sqlx::query(&statement)
        .bind(audience.as_str())
        .bind(grantee_id)
        .bind(patient_id)
        .bind(scopes)
        .execute(&mut *connection)
        .await?;
    tracing::debug!(
        rows = copied.rows_affected(),
        audience = audience.as_str(),
        "consent backfill"
    );
    Ok(())
}

/// Gives a therapist back its own entries (target family events it recorded or that name it).
async fn backfill_own(
    connection: &mut PgConnection,
    patient_id: Uuid,
    therapist_id: Uuid,
) -> Result<(), sqlx::Error> {
    let statement = format!(
        "INSERT INTO entry_readers (patient_id, audience, viewer_id, position, event_index,
             item, basis)
         SELECT patient_id, 'therapist', $1, position, event_index, item, '{basis}' FROM entries
         WHERE patient_id = $2 AND family = 'target' AND item = 'event'
           AND ((actor_role = 'therapist' AND actor_id = $1) OR related_party = $1)
         ON CONFLICT DO NOTHING",
        basis = Basis::Own.as_str(),
    );
    sqlx::query(&statement)
        .bind(therapist_id)
        .bind(patient_id)
        .execute(&mut *connection)
        .await?;
    Ok(())
}
