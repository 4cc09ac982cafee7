//! Demonstration panels and patients. Every name, date and health number here is made up; the
//! health numbers start with `00000` so that none can be a real Alberta PHN.

/// A panel to seed.
#[derive(Debug, Clone)]
pub(crate) struct DemoPanel {
    pub id: String,
    pub name: String,
    pub clinic: String,
    pub patients: Vec<DemoPatient>,
}

/// A patient to seed.
#[derive(Debug, Clone)]
pub(crate) struct DemoPatient {
    pub family_name: String,
    pub given_name: String,
    pub birth_date: String,
    pub phn: String,
    pub attached_on: String,
}

/// Family name, given name, date of birth, attached since.
type Patient = (&'static str, &'static str, &'static str, &'static str);

/// Panel name, clinic, patients.
const PANELS: [(&str, &str, &[Patient]); 3] = [
    (
        "Demo Panel A (fictitious)",
        "Aspen Grove Family Clinic (fictitious)",
        &[
            ("Sample", "Avery", "1984-03-12", "2023-01-09"),
            ("Example", "Jordan", "1990-07-30", "2023-02-14"),
            ("Placeholder", "Riley", "1975-11-02", "2023-04-21"),
            ("Testcase", "Morgan", "2001-05-18", "2024-06-03"),
        ],
    ),
    (
        "Demo Panel B (fictitious)",
        "Birch Lake Medical Centre (fictitious)",
        &[
            ("Dummy", "Casey", "1968-09-25", "2022-10-11"),
            ("Mockup", "Quinn", "1993-01-07", "2023-08-29"),
            ("Specimen", "Rowan", "1959-12-19", "2024-01-15"),
        ],
    ),
    (
        "Demo Panel C (fictitious)",
        "Cedar Ridge Health (fictitious)",
        &[
            ("Fakename", "Emerson", "2010-04-04", "2024-03-01"),
            ("Notreal", "Harper", "1988-08-08", "2024-05-27"),
        ],
    ),
];

/// Three panels for one administrator, with fresh ids.
pub(crate) fn panels() -> Vec<DemoPanel> {
    let mut serial = 0u32;
    PANELS
        .iter()
        .map(|(name, clinic, patients)| {
            let simple = uuid::Uuid::new_v4().simple().to_string();
            DemoPanel {
                id: format!("PNL-{}", &simple[..10]),
                name: (*name).to_string(),
                clinic: (*clinic).to_string(),
                patients: patients
                    .iter()
                    .map(|(family, given, born, attached)| {
                        serial += 1;
                        DemoPatient {
                            family_name: (*family).to_string(),
                            given_name: (*given).to_string(),
                            birth_date: (*born).to_string(),
                            phn: format!("00000-{serial:04}"),
                            attached_on: (*attached).to_string(),
                        }
                    })
                    .collect(),
            }
        })
        .collect()
}
