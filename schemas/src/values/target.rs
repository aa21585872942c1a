//! CBT target values: categories, the built-in pick-one menus, practice outcomes and why a
//! target is retired (domain §3, target family; seed 000 for the menus).

name_enum! {
    /// The kind of skill a target practises. `cognitive` is the thought exercise; the others
    /// are behaviours (the "one behaviour and one thought exercise" rule is the target
    /// service's).
    pub enum TargetCategory {
        BehavioralActivation => "behavioral_activation",
        Cognitive => "cognitive",
        Exposure => "exposure",
        Sleep => "sleep",
    }
}

name_enum! {
    /// An entry of the built-in pick-one menus (seed 000, "Pick-one menus").
    ///
    /// A closed enum rather than a string: the menus are part of the product, a typo must not
    /// create a new item, and each item knows its category so `TargetSet` can refuse an item
    /// filed under the wrong one. New items are appended (the variant order is the wire tag);
    /// a retired item stays, so old events still decode.
    pub enum MenuItem {
        /// "Walk outside for 15 minutes while calling a supportive person."
        WalkOutsideWithSupportCall => "walk_outside_with_support_call",
        /// "Prepare a simple, nourishing meal and eat it at the table."
        SimpleMealAtTable => "simple_meal_at_table",
        /// "Do one admin task you've postponed (pay a bill, send an email)."
        PostponedAdminTask => "postponed_admin_task",
        /// "Schedule one small value-aligned activity (art, music, faith, service) this week."
        ValueAlignedActivity => "value_aligned_activity",
        /// "Identify an all-or-nothing thought. Write one balanced alternative. Practice it once."
        BalancedAlternativeThought => "balanced_alternative_thought",
        /// "Make a two-column list: Facts I know vs Predictions I'm making. Read it aloud."
        FactsVersusPredictions => "facts_versus_predictions",
        /// "Name the thought trap (catastrophizing, mind-reading). Ask, What is a 5% more
        /// helpful view?"
        NameTheThoughtTrap => "name_the_thought_trap",
        /// "Identify negative thought patterns directed at the self and provide alternative
        /// thoughts."
        SelfDirectedThoughtAlternatives => "self_directed_thought_alternatives",
        /// "Send a short message you've avoided."
        SendAvoidedMessage => "send_avoided_message",
        /// "Sit with a mild trigger for 5 minutes using paced breathing."
        MildTriggerWithPacedBreathing => "mild_trigger_with_paced_breathing",
        /// "Enter a low-stakes social space for 10 minutes and see how you feel."
        LowStakesSocialSpace => "low_stakes_social_space",
        /// "Fixed wake time for the next 7 days."
        FixedWakeTime => "fixed_wake_time",
        /// "30-minute wind-down with screens off."
        ScreensOffWindDown => "screens_off_wind_down",
        /// "Bed is for sleep only; get up if awake >20 minutes."
        BedForSleepOnly => "bed_for_sleep_only",
    }
}

impl MenuItem {
    /// The menu this item appears on.
    pub fn category(&self) -> TargetCategory {
        use MenuItem::*;
        match self {
            WalkOutsideWithSupportCall
            | SimpleMealAtTable
            | PostponedAdminTask
            | ValueAlignedActivity => TargetCategory::BehavioralActivation,
            BalancedAlternativeThought
            | FactsVersusPredictions
            | NameTheThoughtTrap
            | SelfDirectedThoughtAlternatives => TargetCategory::Cognitive,
            SendAvoidedMessage | MildTriggerWithPacedBreathing | LowStakesSocialSpace => {
                TargetCategory::Exposure
            }
            FixedWakeTime | ScreensOffWindDown | BedForSleepOnly => TargetCategory::Sleep,
        }
    }

    /// The wording shown to the patient, as in the seed.
    pub fn wording(&self) -> &'static str {
        use MenuItem::*;
        match self {
            WalkOutsideWithSupportCall => {
                "Walk outside for 15 minutes while calling a supportive person."
            }
            SimpleMealAtTable => "Prepare a simple, nourishing meal and eat it at the table.",
            PostponedAdminTask => "Do one admin task you've postponed (pay a bill, send an email).",
            ValueAlignedActivity => {
                "Schedule one small value-aligned activity (art, music, faith, service) this week."
            }
            BalancedAlternativeThought => {
                "Identify an all-or-nothing thought. Write one balanced alternative. Practice it once."
            }
            FactsVersusPredictions => {
                "Make a two-column list: Facts I know vs Predictions I'm making. Read it aloud."
            }
            NameTheThoughtTrap => {
                "Name the thought trap (catastrophizing, mind-reading). Ask, What is a 5% more helpful view?"
            }
            SelfDirectedThoughtAlternatives => {
                "Identify negative thought patterns directed at the self and provide alternative thoughts."
            }
            SendAvoidedMessage => "Send a short message you've avoided.",
            MildTriggerWithPacedBreathing => {
                "Sit with a mild trigger for 5 minutes using paced breathing."
            }
            LowStakesSocialSpace => {
                "Enter a low-stakes social space for 10 minutes and see how you feel."
            }
            FixedWakeTime => "Fixed wake time for the next 7 days.",
            ScreensOffWindDown => "30-minute wind-down with screens off.",
            BedForSleepOnly => "Bed is for sleep only; get up if awake >20 minutes.",
        }
    }

    /// The items of one menu, in menu order.
    pub fn menu(category: TargetCategory) -> impl Iterator<Item = MenuItem> {
        MenuItem::ALL
            .iter()
            .copied()
            .filter(move |item| item.category() == category)
    }
}

name_enum! {
    /// How a practice attempt went.
    pub enum PracticeOutcome {
        Done => "done",
        Partial => "partial",
        Skipped => "skipped",
    }
}

name_enum! {
    /// How hard a practice felt; three `done` + `easy` in a row suggest a notch up.
    pub enum Ease {
        Easy => "easy",
        Ok => "ok",
        Hard => "hard",
    }
}

name_enum! {
    /// Why a target stopped being active.
    pub enum RetireReason {
        Achieved => "achieved",
        Replaced => "replaced",
        Paused => "paused",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_menu_has_its_seed_items() {
        fn check(category: TargetCategory, expected: usize) {
            assert_eq!(MenuItem::menu(category).count(), expected, "{category}");
        }
        check(TargetCategory::BehavioralActivation, 4);
        check(TargetCategory::Cognitive, 4);
        check(TargetCategory::Exposure, 3);
        check(TargetCategory::Sleep, 3);
        assert_eq!(MenuItem::ALL.len(), 14);
        for item in MenuItem::ALL {
            assert!(item.wording().ends_with(['.', '?']), "{item}");
        }
    }

    #[test]
    fn names_are_snake_case_and_closed() {
        for item in MenuItem::ALL {
            let name = item.as_str();
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name}"
            );
            let json = format!("\"{name}\"");
            assert_eq!(
                serde_json::from_str::<MenuItem>(&json).expect("decode"),
                *item
            );
        }
        assert!(serde_json::from_str::<MenuItem>("\"walk outside\"").is_err());
        assert_eq!(
            serde_json::to_string(&TargetCategory::BehavioralActivation).expect("json"),
            "\"behavioral_activation\""
        );
        assert_eq!(serde_json::to_string(&Ease::Ok).expect("json"), "\"ok\"");
        assert_eq!(
            serde_json::to_string(&RetireReason::Paused).expect("json"),
            "\"paused\""
        );
        assert_eq!(
            serde_json::to_string(&PracticeOutcome::Partial).expect("json"),
            "\"partial\""
        );
    }
}
