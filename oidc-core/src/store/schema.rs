// One schema for both backends; keep column types to those diesel's MultiConnection supports
// (no Uuid, Timestamptz or Json: see recipes.md).

diesel::table! {
    users (id) {
        id -> Text,
        subject -> Text,
        username -> Text,
        email -> Text,
        name -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        roles -> Text,
        disabled -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        failed_attempts -> Integer,
        locked_until -> Nullable<Timestamp>,
        password_temporary -> Bool,
        password_expires_at -> Nullable<Timestamp>,
        secret_word_hash -> Nullable<Text>,
        recovery_answers -> Nullable<Text>,
        emergency_hash -> Nullable<Text>,
        emergency_expires_at -> Nullable<Timestamp>,
        caller_code_hash -> Nullable<Text>,
        caller_code_expires_at -> Nullable<Timestamp>,
        caller_verified_by -> Nullable<Text>,
        caller_verified_at -> Nullable<Timestamp>,
        required_actions -> Text,
    }
}

diesel::table! {
    clients (id) {
        id -> Text,
        name -> Text,
        secret_hash -> Nullable<Text>,
        is_public -> Bool,
        first_party -> Bool,
        redirect_uris -> Text,
        post_logout_redirect_uris -> Text,
        pkce_required -> Bool,
        access_token_audience -> Nullable<Text>,
        id_token_alg -> Nullable<Text>,
        disabled -> Bool,
        created_at -> Timestamp,
        mfa_required -> Bool,
        grant_types -> Text,
        scope -> Text,
        refresh_policy -> Text,
        application_type -> Text,
        token_endpoint_auth_method -> Text,
        secret_sealed -> Nullable<Binary>,
        jwks -> Nullable<Text>,
        jwks_uri -> Nullable<Text>,
        backchannel_logout_uri -> Nullable<Text>,
        backchannel_logout_session_required -> Bool,
        require_pushed_authorization_requests -> Bool,
        logo_uri -> Nullable<Text>,
        client_uri -> Nullable<Text>,
        policy_uri -> Nullable<Text>,
        tos_uri -> Nullable<Text>,
        contacts -> Text,
        registration_token_hash -> Nullable<Text>,
        dynamic_registration -> Bool,
    }
}

diesel::table! {
    initial_access_tokens (id) {
        id -> Text,
        token_hash -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        single_use -> Bool,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        private_key -> Binary,
        public_jwk -> Text,
        created_at -> Timestamp,
        retired_at -> Nullable<Timestamp>,
        activates_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        secret_hash -> Text,
        user_id -> Text,
        auth_time -> Timestamp,
        amr -> Text,
        acr -> Nullable<Text>,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    journeys (id) {
        id -> Text,
        browser_hash -> Text,
        csrf -> Text,
        request -> Text,
        user_id -> Nullable<Text>,
        steps -> Text,
        amr -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        password_ok -> Bool,
        claimed_username -> Nullable<Text>,
        factor_state -> Nullable<Text>,
        acr -> Nullable<Text>,
        version -> Integer,
        held_passcode -> Nullable<Text>,
        portal -> Bool,
        return_to -> Nullable<Text>,
        session_id -> Nullable<Text>,
        consented -> Bool,
    }
}

diesel::table! {
    grants (id) {
        id -> Text,
        client_id -> Text,
        user_id -> Nullable<Text>,
        session_id -> Nullable<Text>,
        scope -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        claims -> Nullable<Text>,
        offline -> Bool,
    }
}

diesel::table! {
    auth_codes (code_hash) {
        code_hash -> Text,
        grant_id -> Text,
        client_id -> Text,
        user_id -> Text,
        session_id -> Text,
        redirect_uri -> Text,
        scope -> Text,
        nonce -> Nullable<Text>,
        code_challenge -> Nullable<Text>,
        auth_time -> Timestamp,
        amr -> Text,
        acr -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    otp_tokens (id) {
        id -> Text,
        serial -> Text,
        kind -> Text,
        factor -> Text,
        user_id -> Nullable<Text>,
        state -> Text,
        secret -> Binary,
        algorithm -> Text,
        digits -> Integer,
        period -> Integer,
        pin_hash -> Nullable<Text>,
        drift -> Integer,
        last_step -> Nullable<BigInt>,
        failures -> Integer,
        next_code_mode -> Bool,
        activation_hash -> Nullable<Text>,
        activation_expires_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        activated_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    meta (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Text,
        seq -> BigInt,
        at -> Timestamp,
        actor -> Text,
        event -> Text,
        subject -> Nullable<Text>,
        detail -> Text,
        prev_mac -> Text,
        mac -> Text,
    }
}

diesel::table! {
    password_history (id) {
        id -> Text,
        user_id -> Text,
        password_hash -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    throttles (key) {
        key -> Text,
        failures -> Integer,
        window_start -> Timestamp,
        blocked_until -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    registrations (id) {
        id -> Text,
        legal_name -> Text,
        email -> Text,
        clinic -> Text,
        practitioner_id -> Text,
        role_requested -> Text,
        username -> Nullable<Text>,
        status -> Text,
        submitted_by -> Text,
        decided_by -> Nullable<Text>,
        reason -> Nullable<Text>,
        created_at -> Timestamp,
        decided_at -> Nullable<Timestamp>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(users, otp_tokens);

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        grant_id -> Text,
        client_id -> Text,
        user_id -> Text,
        session_id -> Text,
        scope -> Text,
        auth_time -> Timestamp,
        amr -> Text,
        acr -> Nullable<Text>,
        created_at -> Timestamp,
        idle_expires_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}
diesel::allow_tables_to_appear_in_same_query!(refresh_tokens, grants);

diesel::table! {
    consents (user_id, client_id) {
        user_id -> Text,
        client_id -> Text,
        scopes -> Text,
        claims -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}
diesel::allow_tables_to_appear_in_same_query!(consents, clients);

diesel::table! {
    client_assertions (jti_hash) {
        jti_hash -> Text,
        client_id -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    backchannel_deliveries (id) {
        id -> Text,
        client_id -> Text,
        user_id -> Text,
        session_id -> Nullable<Text>,
        created_at -> Timestamp,
        next_attempt_at -> Timestamp,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        done_at -> Nullable<Timestamp>,
        outcome -> Nullable<Text>,
    }
}

diesel::table! {
    pushed_requests (id) {
        id -> Text,
        client_id -> Text,
        params -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}
