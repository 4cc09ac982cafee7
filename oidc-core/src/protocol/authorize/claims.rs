//! The `claims` request parameter (OIDC Core §5.5).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The longest `claims` parameter accepted (its JSON is kept with the grant).
pub(super) const MAX_CLAIMS_PARAM: usize = 4096;
/// The most claims one member (`id_token`, `userinfo`) of the `claims` parameter may name.
const MAX_CLAIMS_PER_MEMBER: usize = 32;

/// One claim of the `claims` parameter (OIDC Core §5.5.1): `null` (a plain request) or an
/// object with `essential`, `value` or `values`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRequest {
    /// The client says the claim is essential to it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub essential: bool,
    /// A particular value asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// A set of acceptable values, in order of preference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<serde_json::Value>>,
}

impl ClaimRequest {
    /// `value` and `values` as strings, in that order.
    pub fn string_values(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if let Some(s) = self.value.as_ref().and_then(serde_json::Value::as_str) {
            out.push(s.to_string());
        }
        if let Some(list) = &self.values {
            out.extend(list.iter().filter_map(|x| x.as_str().map(str::to_string)));
        }
        out
    }
}

/// The `claims` request parameter (OIDC Core §5.5): individual claims asked for in the ID token
/// and at userinfo. Members other than `id_token` and `userinfo` are ignored, as §5.5 says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimsRequest {
    /// Claims for the ID token.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub id_token: BTreeMap<String, ClaimRequest>,
    /// Claims for the userinfo response.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub userinfo: BTreeMap<String, ClaimRequest>,
}

impl ClaimsRequest {
    /// Parses the parameter. The error is the `error_description` of an `invalid_request`.
    pub fn parse(raw: &str) -> Result<ClaimsRequest, String> {
        if raw.len() > MAX_CLAIMS_PARAM {
            return Err("the claims parameter is too long".into());
        }
        let v: serde_json::Value = serde_json::from_str(raw)
            .map_err(|_| "the claims parameter is not JSON".to_string())?;
        let serde_json::Value::Object(top) = v else {
            return Err("the claims parameter must be a JSON object".into());
        };
        let member = |name: &str| -> Result<BTreeMap<String, ClaimRequest>, String> {
            let mut out = BTreeMap::new();
            let Some(m) = top.get(name) else {
                return Ok(out);
            };
            let serde_json::Value::Object(m) = m else {
                return Err(format!("claims.{name} must be a JSON object"));
            };
            if m.len() > MAX_CLAIMS_PER_MEMBER {
                return Err(format!("claims.{name} names too many claims"));
            }
            for (claim, req) in m {
                let parsed = match req {
                    serde_json::Value::Null => ClaimRequest::default(),
                    serde_json::Value::Object(o) => {
                        let essential = match o.get("essential") {
                            None | Some(serde_json::Value::Null) => false,
                            Some(serde_json::Value::Bool(b)) => *b,
                            Some(_) => {
                                return Err(format!(
                                    "claims.{name}.{claim}.essential must be a boolean"
                                ));
                            }
                        };
                        let values = match o.get("values") {
                            None | Some(serde_json::Value::Null) => None,
                            Some(serde_json::Value::Array(a)) => Some(a.clone()),
                            Some(_) => {
                                return Err(format!(
                                    "claims.{name}.{claim}.values must be an array"
                                ));
                            }
                        };
                        ClaimRequest {
                            essential,
                            value: o.get("value").filter(|x| !x.is_null()).cloned(),
                            values,
                        }
                    }
                    _ => {
                        return Err(format!(
                            "claims.{name}.{claim} must be null or a JSON object"
                        ));
                    }
                };
                out.insert(claim.clone(), parsed);
            }
            Ok(out)
        };
        Ok(ClaimsRequest {
            id_token: member("id_token")?,
            userinfo: member("userinfo")?,
        })
    }

    /// The essential `acr` request for the ID token (OIDC Core §5.5.1.1): `None` when `acr` is
    /// not essential; an empty list when any `acr` will do.
    pub fn essential_acr(&self) -> Option<Vec<String>> {
        self.id_token
            .get("acr")
            .filter(|r| r.essential)
            .map(ClaimRequest::string_values)
    }

    /// The `sub` the ID token must have (§5.5.1: only that person may get a positive answer).
    pub fn required_subject(&self) -> Option<String> {
        self.id_token
            .get("sub")
            .and_then(|r| r.value.as_ref())
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    }

    /// Every claim named, in either member, without duplicates.
    pub fn names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.id_token.keys().map(String::as_str).collect();
        for k in self.userinfo.keys() {
            if !out.contains(&k.as_str()) {
                out.push(k);
            }
        }
        out
    }
}
