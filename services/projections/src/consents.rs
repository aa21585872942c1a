//! Consent state and its enforcement by construction: a grant backfills the grantee's rows
//! for the granted scopes from the auditor's full history (in the same transaction); a
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

use crate::entry::{Audience, Basis, COPIED_COLUMNS};

/// The SQL condition "an active consent, at `$now_param`, lets the reader of row `t` see it":
/// one definition for the read filter and the sweep.
pub(crate) fn consent_covers(now_param: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM consents c
            WHERE c.patient_id = t.patient_id AND c.grantee_id = t.viewer_id
              AND c.grantee_role = t.audience AND c.revoked_at IS NULL
              AND (c.expires_at IS NULL OR c.expires_at > {now_param})
              AND (t.basis = 'own' OR t.scope = ANY(c.scopes)))"
    )
}

/// One active consent of a patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ActiveConsent {
    pub(crate) grantee_id: Uuid,
    pub(crate) audience: Audience,
    pub(crate) scopes: BTreeSet<String>,
}

/// The patient's consents active at an instant.
#[derive(Debug, Clone, Default)]
pub(crate) struct ActiveConsents(Vec<ActiveConsent>);

impl ActiveConsents {
    pub(crate) async fn load(
        connection: &mut PgConnection,
        patient_id: Uuid,
        at: OffsetDateTime,
    ) -> Result<ActiveConsents, sqlx::Error> {
        let rows: Vec<(Uuid, String, Vec<String>)> = sqlx::query_as(
            "SELECT grantee_id, grantee_role, scopes FROM consents
             WHERE patient_id = $1 AND revoked_at IS NULL
               AND (expires_at IS NULL OR expires_at > $2)
             ORDER BY granted_position",
        )
        .bind(patient_id)
        .bind(at)
        .fetch_all(&mut *connection)
        .await?;
        Ok(ActiveConsents(
            rows.into_iter()
                .filter_map(|(grantee_id, role, scopes)| {
                    Some(ActiveConsent {
                        grantee_id,
                        audience: audience_of_role(&role)?,
                        scopes: scopes.into_iter().collect(),
                    })
                })
                .collect(),
        ))
    }

    /// Grantees of one kind whose active consents cover `scope`, each once, in id order.
    pub(crate) fn grantees_with(&self, audience: Audience, scope: Scope) -> BTreeSet<Uuid> {
        self.0
            .iter()
            .filter(|consent| {
                consent.audience == audience && consent.scopes.contains(scope.as_str())
            })
            .map(|consent| consent.grantee_id)
            .collect()
    }

    /// Whether this grantee holds any active consent at all.
    pub(crate) fn any_for(&self, audience: Audience, grantee_id: Uuid) -> bool {
        self.0
            .iter()
            .any(|consent| consent.audience == audience && consent.grantee_id == grantee_id)
    }

    /// Every grantee of one kind holding any active consent.
    pub(crate) fn grantees(&self, audience: Audience) -> BTreeSet<Uuid> {
        self.0
            .iter()
            .filter(|consent| consent.audience == audience)
            .map(|consent| consent.grantee_id)
            .collect()
    }
}

fn audience_of_role(role: &str) -> Option<Audience> {
    match role {
        "clinic" => Some(Audience::Clinic),
        "therapist" => Some(Audience::Therapist),
        _ => None,
    }
}

fn audience_of(role: GranteeRole) -> Audience {
    match role {
        GranteeRole::Clinic => Audience::Clinic,
        GranteeRole::Therapist => Audience::Therapist,
    }
}

/// The grantee a consent event names (the grant's, or the revoked consent's).
pub(crate) async fn grantee_of(
    connection: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<Option<(Audience, Uuid)>, sqlx::Error> {
    match &event.payload {
        EventPayload::Consent(ConsentEvent::ConsentGranted(granted)) => Ok(Some((
            audience_of(granted.grantee_role),
            *granted.grantee_id.as_uuid(),
        ))),
        EventPayload::Consent(ConsentEvent::ConsentRevoked(revoked)) => {
            let row: Option<(String, Uuid)> = sqlx::query_as(
                "SELECT grantee_role, grantee_id FROM consents
                 WHERE consent_id = $1 AND patient_id = $2",
            )
            .bind(revoked.consent_id.as_uuid())
            .bind(event.envelope.patient_id.as_uuid())
            .fetch_optional(&mut *connection)
            .await?;
            Ok(row.and_then(|(role, grantee)| Some((audience_of_role(&role)?, grantee))))
        }
        _ => Ok(None),
    }
}

/// Applies a grant or a revocation to the consent table and the grantee's rows. Runs after
/// the event's own entries are written, so a backfill sees every earlier event.
pub(crate) async fn apply(
    connection: &mut PgConnection,
    event: &RecordedEvent,
    position: i64,
) -> Result<(), sqlx::Error> {
    let patient_id = *event.envelope.patient_id.as_uuid();
    let recorded_at = event.envelope.recorded_at.to_datetime();
    match &event.payload {
        EventPayload::Consent(ConsentEvent::ConsentGranted(granted)) => {
            let scopes: Vec<String> = granted
                .scopes
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect();
            let expires_at = granted.expires_at.map(|at| at.to_datetime());
            sqlx::query(
                "INSERT INTO consents (consent_id, patient_id, grantee_id, grantee_role, scopes,
                     purpose, granted_at, granted_position, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(granted.consent_id.as_uuid())
            .bind(patient_id)
            .bind(granted.grantee_id.as_uuid())
            .bind(granted.grantee_role.as_str())
            .bind(&scopes)
            .bind(granted.purpose.as_str())
            .bind(event.envelope.occurred_at.to_datetime())
            .bind(position)
            .bind(expires_at)
            .execute(&mut *connection)
            .await?;
            if expires_at.is_some_and(|expires_at| expires_at <= recorded_at) {
                return Ok(());
            }
            let audience = audience_of(granted.grantee_role);
            let grantee_id = *granted.grantee_id.as_uuid();
            if audience == Audience::Therapist {
                backfill_own(connection, patient_id, grantee_id).await?;
            }
            backfill(connection, patient_id, audience, grantee_id, &scopes).await?;
        }
        EventPayload::Consent(ConsentEvent::ConsentRevoked(revoked)) => {
            let row: Option<(Uuid, String, Vec<String>)> = sqlx::query_as(
                "UPDATE consents SET revoked_at = $3, revoked_position = $4
                 WHERE consent_id = $1 AND patient_id = $2 AND revoked_at IS NULL
                 RETURNING grantee_id, grantee_role, scopes",
            )
            .bind(revoked.consent_id.as_uuid())
            .bind(patient_id)
            .bind(event.envelope.occurred_at.to_datetime())
            .bind(position)
            .fetch_optional(&mut *connection)
            .await?;
            let Some((grantee_id, role, scopes)) = row else {
                tracing::warn!(
                    position,
                    "a revocation names no open consent; nothing to remove"
                );
                return Ok(());
            };
            let Some(audience) = audience_of_role(&role) else {
                return Ok(());
            };
            let remaining = ActiveConsents::load(connection, patient_id, recorded_at).await?;
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
            sqlx::query(
                "DELETE FROM timeline_entries
                 WHERE audience = $1 AND viewer_id = $2 AND patient_id = $3
                   AND basis = 'consent' AND scope = ANY($4)",
            )
            .bind(audience.as_str())
            .bind(grantee_id)
            .bind(patient_id)
            .bind(&revoked_scopes)
            .execute(&mut *connection)
            .await?;
            if !remaining.any_for(audience, grantee_id) {
                sqlx::query(
                    "DELETE FROM timeline_entries
                     WHERE audience = $1 AND viewer_id = $2 AND patient_id = $3 AND basis = 'own'",
                )
                .bind(audience.as_str())
                .bind(grantee_id)
                .bind(patient_id)
                .execute(&mut *connection)
                .await?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Copies the auditor's rows of the granted scopes to the grantee. Rows the grantee already
/// has (by its course, as its own, or under another consent) stay as they are.
async fn backfill(
    connection: &mut PgConnection,
    patient_id: Uuid,
    audience: Audience,
    grantee_id: Uuid,
    scopes: &[String],
) -> Result<(), sqlx::Error> {
    let statement = format!(
        "INSERT INTO timeline_entries (audience, viewer_id, basis, {COPIED_COLUMNS})
         SELECT $1, $2, '{basis}', {COPIED_COLUMNS} FROM timeline_entries
         WHERE audience = 'auditor' AND patient_id = $3 AND scope = ANY($4)
           AND ($1 = 'therapist' OR item NOT LIKE 'suggestion:%')
         ON CONFLICT DO NOTHING",
        basis = Basis::Consent.as_str(),
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
        "INSERT INTO timeline_entries (audience, viewer_id, basis, {COPIED_COLUMNS})
         SELECT 'therapist', $1, '{basis}', {COPIED_COLUMNS} FROM timeline_entries
         WHERE audience = 'auditor' AND patient_id = $2 AND family = 'target' AND item = 'event'
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
