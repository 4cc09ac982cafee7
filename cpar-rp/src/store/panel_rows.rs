//! Panels and their patients (and the demonstration data).

use diesel::prelude::*;

use super::schema::{panels, patients};
use super::{PanelRow, PatientRow, Store, StoreError};

impl Store {
    /// The panels `username` administers, with their patient counts, by name.
    pub(crate) async fn panels_of(
        &self,
        username: String,
    ) -> Result<Vec<(PanelRow, i64)>, StoreError> {
        self.run(move |c| {
            let list = panels::table
                .filter(panels::administrator.eq(&username))
                .order((panels::name.asc(), panels::id.asc()))
                .select((panels::id, panels::name, panels::clinic))
                .load::<PanelRow>(c)?;
            let mut out = Vec::with_capacity(list.len());
            for p in list {
                let n: i64 = patients::table
                    .filter(patients::panel_id.eq(&p.id))
                    .count()
                    .get_result(c)?;
                out.push((p, n));
            }
            Ok(out)
        })
        .await
    }

    /// Panel `id` with its patients, if `username` administers it.
    pub(crate) async fn panel_for(
        &self,
        id: String,
        username: String,
    ) -> Result<Option<(PanelRow, Vec<PatientRow>)>, StoreError> {
        self.run(move |c| {
            let Some(panel) = panels::table
                .filter(panels::id.eq(&id))
                .filter(panels::administrator.eq(&username))
                .select((panels::id, panels::name, panels::clinic))
                .first::<PanelRow>(c)
                .optional()?
            else {
                return Ok(None);
            };
            let list = patients::table
                .filter(patients::panel_id.eq(&panel.id))
                .order((patients::family_name.asc(), patients::given_name.asc()))
                .select((
                    patients::family_name,
                    patients::given_name,
                    patients::birth_date,
                    patients::phn,
                    patients::attached_on,
                ))
                .load::<PatientRow>(c)?;
            Ok(Some((panel, list)))
        })
        .await
    }

    /// Seeds `panels` for `username` unless they already administer a panel; returns the ids of
    /// their panels either way. Read-then-write, so in one `BEGIN IMMEDIATE` transaction.
    pub(crate) async fn seed_panels(
        &self,
        username: String,
        seed: Vec<crate::demo::DemoPanel>,
    ) -> Result<Vec<String>, StoreError> {
        self.run(move |c| {
            let inner: &mut SqliteConnection = c;
            inner.immediate_transaction::<_, StoreError, _>(|c| {
                let existing = panels::table
                    .filter(panels::administrator.eq(&username))
                    .order((panels::name.asc(), panels::id.asc()))
                    .select(panels::id)
                    .load::<String>(c)?;
                if !existing.is_empty() {
                    return Ok(existing);
                }
                for p in &seed {
                    diesel::insert_into(panels::table)
                        .values((
                            panels::id.eq(&p.id),
                            panels::name.eq(&p.name),
                            panels::clinic.eq(&p.clinic),
                            panels::administrator.eq(&username),
                        ))
                        .execute(c)?;
                    for (n, pt) in p.patients.iter().enumerate() {
                        diesel::insert_into(patients::table)
                            .values((
                                patients::id.eq(format!("{}-{:03}", p.id, n + 1)),
                                patients::panel_id.eq(&p.id),
                                patients::family_name.eq(&pt.family_name),
                                patients::given_name.eq(&pt.given_name),
                                patients::birth_date.eq(&pt.birth_date),
                                patients::phn.eq(&pt.phn),
                                patients::attached_on.eq(&pt.attached_on),
                            ))
                            .execute(c)?;
                    }
                }
                Ok(panels::table
                    .filter(panels::administrator.eq(&username))
                    .order((panels::name.asc(), panels::id.asc()))
                    .select(panels::id)
                    .load::<String>(c)?)
            })
        })
        .await
    }
}
