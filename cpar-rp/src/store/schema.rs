//! The tables of `migrations/`, for diesel.

diesel::table! {
    login_attempts (state_digest) {
        state_digest -> Text,
        browser_digest -> Text,
        nonce -> Text,
        pkce_verifier -> Text,
        return_to -> Text,
        prompt_login -> Bool,
        notice -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    sessions (id_digest) {
        id_digest -> Text,
        subject -> Text,
        username -> Text,
        name -> Text,
        email -> Text,
        roles -> Text,
        id_token -> Text,
        csrf -> Text,
        notice -> Nullable<Text>,
        created_at -> BigInt,
        last_seen_at -> BigInt,
        ended_reason -> Nullable<Text>,
        sid -> Nullable<Text>,
    }
}

diesel::table! {
    logout_tokens (jti_digest) {
        jti_digest -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    logout_states (state_digest) {
        state_digest -> Text,
        browser_digest -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    panels (id) {
        id -> Text,
        name -> Text,
        clinic -> Text,
        administrator -> Text,
    }
}

diesel::table! {
    patients (id) {
        id -> Text,
        panel_id -> Text,
        family_name -> Text,
        given_name -> Text,
        birth_date -> Text,
        phn -> Text,
        attached_on -> Text,
    }
}

diesel::joinable!(patients -> panels (panel_id));
diesel::allow_tables_to_appear_in_same_query!(panels, patients);
