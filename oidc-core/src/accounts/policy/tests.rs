use super::*;

fn ctx() -> PolicyContext<'static> {
    PolicyContext {
        username: "nakitt",
        name: Some("Nancy O'Brien-Akitt"),
        email: Some("nancy.akitt@example.org"),
    }
}

fn nobody() -> PolicyContext<'static> {
    PolicyContext::default()
}

fn check(password: &str) -> Vec<RuleViolation> {
    PasswordPolicy::default().check(password, &ctx())
}

#[test]
fn defaults() {
    let p = PasswordPolicy::default();
    assert_eq!(p.min_length, 12);
    assert_eq!(p.max_length, 128);
    assert_eq!(p.require_classes, 0);
    assert_eq!(p.history, 5);
    assert_eq!(
        p.organisation_words,
        vec!["ahs", "alberta", "health", "services", "cpar"]
    );
}

#[test]
fn setters_clamp_to_the_floors() {
    let p = PasswordPolicy::default()
        .min_length(4)
        .max_length(20)
        .require_classes(9)
        .history(3)
        .organisation_words(["acme"]);
    assert_eq!(p.min_length, 8);
    assert_eq!(p.max_length, 64);
    assert_eq!(p.require_classes, 4);
    assert_eq!(p.history, 3);
    assert_eq!(p.organisation_words, vec!["acme".to_string()]);
    // Fields set directly out of bounds are raised when checking.
    let raw = PasswordPolicy {
        min_length: 2,
        max_length: 10,
        ..PasswordPolicy::default()
    };
    assert_eq!(raw.effective_min_length(), 8);
    assert_eq!(raw.effective_max_length(), 64);
    assert_eq!(
        raw.check("seven c", &nobody()),
        vec![RuleViolation::TooShort { min: 8 }]
    );
    // The maximum is never below the minimum.
    let long = PasswordPolicy::default().min_length(100);
    assert_eq!(long.effective_max_length(), 128);
    let longer = PasswordPolicy::default().min_length(200);
    assert_eq!(longer.effective_max_length(), 200);
}

#[test]
fn boundary_11_and_12_characters() {
    assert_eq!(
        check("kettle drum"),
        vec![RuleViolation::TooShort { min: 12 }]
    );
    assert_eq!(check("kettle drums"), vec![]);
}

#[test]
fn eight_character_floor() {
    let p = PasswordPolicy::default().min_length(1);
    assert_eq!(
        p.check("zebra q", &nobody()),
        vec![RuleViolation::TooShort { min: 8 }]
    );
    assert_eq!(p.check("zebra qv", &nobody()), vec![]);
    let ten = PasswordPolicy::default().min_length(10);
    assert_eq!(
        ten.check("zebra qvx", &nobody()),
        vec![RuleViolation::TooShort { min: 10 }]
    );
    assert_eq!(ten.check("zebra qvxy", &nobody()), vec![]);
}

#[test]
fn maximum_length_at_least_64() {
    let p = PasswordPolicy::default();
    let ok = "correct horse ".repeat(10)[..128].to_string();
    assert_eq!(p.check(&ok, &nobody()), vec![]);
    let too_long = format!("{ok}x");
    assert_eq!(
        p.check(&too_long, &nobody()),
        vec![RuleViolation::TooLong { max: 128 }]
    );
    let short_max = PasswordPolicy::default().max_length(64);
    let sixty_four = &ok[..64];
    assert_eq!(short_max.check(sixty_four, &nobody()), vec![]);
    assert_eq!(
        short_max.check(&ok[..65], &nobody()),
        vec![RuleViolation::TooLong { max: 64 }]
    );
    // Huge input is refused without normalising it.
    let huge = "x".repeat(1 << 20);
    assert_eq!(
        p.check(&huge, &nobody()),
        vec![RuleViolation::TooLong { max: 128 }]
    );
}

#[test]
fn multibyte_characters_count_as_chars() {
    // 11 × 'é' is 22 bytes but 11 characters: too short; 12 is enough.
    let eleven = "é".repeat(11);
    assert_eq!(eleven.len(), 22);
    assert_eq!(check(&eleven), vec![RuleViolation::TooShort { min: 12 }]);
    assert_eq!(check(&"é".repeat(12)), vec![]);
    // 'e' + combining acute accent composes to one character under NFKC.
    let decomposed = "e\u{301}".repeat(12);
    assert_eq!(decomposed.chars().count(), 24);
    assert_eq!(normalize(&decomposed).chars().count(), 12);
    assert_eq!(check(&decomposed), vec![]);
    assert_eq!(
        check(&"e\u{301}".repeat(11)),
        vec![RuleViolation::TooShort { min: 12 }]
    );
    // Emoji and other scripts are allowed and counted as characters.
    assert_eq!(check("🐻🐻🐻 北極熊 pôlaire"), vec![]);
    assert_eq!(
        check("🐻🐻🐻 北極熊 pôl"),
        vec![RuleViolation::TooShort { min: 12 }]
    );
}

#[test]
fn nfkc_fullwidth_variant_of_a_blocklisted_password_is_blocklisted() {
    let fullwidth = "ＰＡＳＳＷＯＲＤ１２３４";
    assert_eq!(normalize(fullwidth), "PASSWORD1234");
    assert_eq!(check(fullwidth), vec![RuleViolation::Blocklisted]);
    assert_eq!(check("password1234"), vec![RuleViolation::Blocklisted]);
}

#[test]
fn ligatures_are_normalised() {
    assert_eq!(normalize("\u{fb01}"), "fi");
    assert_eq!(normalize("\u{fb04}"), "ffl");
    // "ﬁnalfantasy" is "finalfantasy", on the blocklist.
    assert_eq!(
        check("\u{fb01}nalfantasy"),
        vec![RuleViolation::Blocklisted]
    );
    // Lengths count the normalised form: 11 characters typed, 12 after NFKC.
    let typed = "wa\u{fb01}e ironsz";
    assert_eq!(typed.chars().count(), 11);
    assert_eq!(normalize(typed).chars().count(), 12);
    assert_eq!(check(typed), vec![]);
}

#[test]
fn blocklist_is_case_insensitive() {
    let p = PasswordPolicy::default().min_length(8);
    assert_eq!(
        p.check("PassWord", &nobody()),
        vec![RuleViolation::Blocklisted]
    );
    assert_eq!(
        p.check("QWERTY123456", &nobody()),
        vec![RuleViolation::Blocklisted]
    );
    // Short blocklisted passwords fail both rules; all violations are reported.
    assert_eq!(
        check("123456"),
        vec![
            RuleViolation::TooShort { min: 12 },
            RuleViolation::Blocklisted
        ]
    );
}

#[test]
fn control_characters_are_refused() {
    assert_eq!(
        check("kettle\tdrums!"),
        vec![RuleViolation::ControlCharacters]
    );
    assert_eq!(
        check("kettle drums\n"),
        vec![RuleViolation::ControlCharacters]
    );
    assert_eq!(
        check("kettle\u{0}drums!"),
        vec![RuleViolation::ControlCharacters]
    );
    // Spaces are fine.
    assert_eq!(check("  kettle drums  "), vec![]);
}

#[test]
fn personal_info_is_refused() {
    for pw in [
        "my NAKITT pass phrase",     // username, any case
        "nancy likes long walks",    // a word of the name
        "the o'brien family dog",    // a word of a hyphenated name
        "akitt-family-dog-2024",     // another word of the name
        "nancy.akitt forever!",      // the email's local part
        "ＮＡＮＣＹ rides bicycles", // full-width, after NFKC
    ] {
        assert_eq!(check(pw), vec![RuleViolation::ContainsPersonalInfo], "{pw}");
    }
    assert_eq!(check("kettle drums rolling"), vec![]);
}

#[test]
fn short_name_words_are_ignored() {
    let c = PolicyContext {
        username: "ab",
        name: Some("Al Bo"),
        email: Some("al@example.org"),
    };
    let p = PasswordPolicy::default();
    assert_eq!(p.check("ab al bo kettle drums", &c), vec![]);
    let username_email = PolicyContext {
        username: "jsmith@example.org",
        name: None,
        email: None,
    };
    assert_eq!(
        p.check("hello jsmith friends", &username_email),
        vec![RuleViolation::ContainsPersonalInfo]
    );
    let email_parts = PolicyContext {
        username: "u123",
        name: None,
        email: Some("jo.smithers+iam@example.org"),
    };
    assert_eq!(
        p.check("the smithers family", &email_parts),
        vec![RuleViolation::ContainsPersonalInfo]
    );
}

#[test]
fn organisation_words_are_refused() {
    for pw in [
        "I work at AHS every day",
        "wild rose alberta 1905",
        "HealthyHabits4Life",
        "customer services rock",
        "cpar panel reviewer",
        "ａｌｂｅｒｔａ ｒｏｃｋｉｅｓ",
    ] {
        assert_eq!(
            check(pw),
            vec![RuleViolation::ContainsOrganisationWord],
            "{pw}"
        );
    }
    let acme = PasswordPolicy::default().organisation_words(["ACME", "x"]);
    assert_eq!(
        acme.check("acme widgets 4 all", &nobody()),
        vec![RuleViolation::ContainsOrganisationWord]
    );
    assert_eq!(acme.check("health x widgets", &nobody()), vec![]);
    let none = PasswordPolicy::default().organisation_words(Vec::<String>::new());
    assert_eq!(none.check("alberta health services", &nobody()), vec![]);
}

#[test]
fn no_composition_rules_by_default() {
    assert_eq!(check("alllowercaseletters"), vec![]);
    assert_eq!(check("738291047362"), vec![]);
}

#[test]
fn composition_rules_when_configured() {
    let p = PasswordPolicy::default().require_classes(3);
    assert_eq!(
        p.check("alllowercaseletters", &nobody()),
        vec![RuleViolation::TooFewClasses { required: 3 }]
    );
    assert_eq!(
        p.check("TwoClassesOnlyHere", &nobody()),
        vec![RuleViolation::TooFewClasses { required: 3 }]
    );
    assert_eq!(p.check("Three classes here", &nobody()), vec![]);
    assert_eq!(p.check("Mixed5Case2Digits", &nobody()), vec![]);
    let four = PasswordPolicy::default().require_classes(4);
    assert_eq!(
        four.check("Mixed5Case2Digits", &nobody()),
        vec![RuleViolation::TooFewClasses { required: 4 }]
    );
    assert_eq!(four.check("Mixed5Case2Digits!", &nobody()), vec![]);
    assert_eq!(classes("Ünïcödé 9 ß"), 4);
}

#[test]
fn all_violations_are_reported() {
    let p = PasswordPolicy::default().require_classes(4);
    assert_eq!(
        p.check("ahs\tnakitt", &ctx()),
        vec![
            RuleViolation::ControlCharacters,
            RuleViolation::TooShort { min: 12 },
            RuleViolation::TooFewClasses { required: 4 },
            RuleViolation::ContainsPersonalInfo,
            RuleViolation::ContainsOrganisationWord,
        ]
    );
}

#[test]
fn messages_are_sentences() {
    let all = [
        RuleViolation::TooShort { min: 12 },
        RuleViolation::TooLong { max: 128 },
        RuleViolation::TooFewClasses { required: 3 },
        RuleViolation::Blocklisted,
        RuleViolation::ContainsPersonalInfo,
        RuleViolation::ContainsOrganisationWord,
        RuleViolation::Reused,
        RuleViolation::ControlCharacters,
    ];
    for v in &all {
        let m = v.message();
        assert!(m.ends_with('.') && m.len() > 20, "{m}");
        assert!(m.chars().next().is_some_and(char::is_uppercase), "{m}");
        assert_eq!(v.to_string(), m);
    }
    assert!(all[0].message().contains("12"));
    assert!(all[1].message().contains("128"));
    assert!(all[2].message().contains('3'));
}

#[test]
fn rules_list_the_active_rules() {
    let rules = PasswordPolicy::default().rules();
    assert_eq!(rules[0], "At least 12 characters.");
    assert!(rules.contains(&"At most 128 characters.".to_string()));
    assert!(rules.contains(&"Not one of your last 5 passwords.".to_string()));
    assert!(rules.iter().any(|r| r.contains("common password")));
    assert!(rules.iter().any(|r| r.contains("username")));
    assert!(
        rules
            .iter()
            .any(|r| r.contains("\u{201c}ahs\u{201d}") && r.contains("or \u{201c}cpar\u{201d}")),
        "{rules:?}"
    );
    assert!(!rules.iter().any(|r| r.contains("capital letters")));
    assert!(rules.iter().all(|r| r.ends_with('.')));

    let strict = PasswordPolicy::default()
        .min_length(14)
        .require_classes(3)
        .history(0)
        .organisation_words(Vec::<String>::new());
    let rules = strict.rules();
    assert_eq!(rules[0], "At least 14 characters.");
    assert!(rules.contains(
        &"At least 3 of: lower-case letters, capital letters, digits, symbols.".to_string()
    ));
    assert!(!rules.iter().any(|r| r.contains("last")));
    assert!(!rules.iter().any(|r| r.contains("the words")));
    let one = PasswordPolicy::default().history(1).rules();
    assert!(one.iter().any(|r| r.contains("current or previous")));
}

#[test]
fn join_or_reads_naturally() {
    let s = |v: &[&str]| join_or(&v.iter().map(|x| x.to_string()).collect::<Vec<_>>());
    assert_eq!(s(&[]), "");
    assert_eq!(s(&["a"]), "a");
    assert_eq!(s(&["a", "b"]), "a or b");
    assert_eq!(s(&["a", "b", "c"]), "a, b or c");
}
