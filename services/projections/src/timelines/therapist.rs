//! Each therapist's timeline, per grantee.

use uuid::Uuid;

use super::{EventContext, KindReaders};
use crate::entry::{Audience, Basis, Entry, Reach, EVENT_ITEM};

/// Each therapist's timeline: grants to it, its own target-family entries while it holds any
/// active consent, and what active consents open.
pub(crate) fn therapist(entry: &Entry, context: &EventContext, readers: &mut KindReaders<'_>) {
    if !matches!(entry.reach, Reach::Record | Reach::TherapistSuggestion) {
        return;
    }
    if let Some(scope) = entry.scope {
        for therapist in context.consents.grantees_with(Audience::Therapist, scope) {
            readers.insert(therapist, Basis::Consent);
        }
    }
    if entry.family == "target" && entry.item == EVENT_ITEM {
        let own = |therapist: &Uuid| {
            (entry.actor_role == "therapist" && entry.actor_id == *therapist)
                || entry.related_party == Some(*therapist)
        };
        // "Own" outlives a revoked scope but not the last consent (domain §5).
        for therapist in context.consents.grantees(Audience::Therapist) {
            if own(&therapist) {
                readers.insert(therapist, Basis::Own);
            }
        }
    }
    if let (Some((Audience::Therapist, grantee)), EVENT_ITEM) =
        (context.grantee, entry.item.as_ref())
    {
        readers.insert(grantee, Basis::Grant);
    }
}
