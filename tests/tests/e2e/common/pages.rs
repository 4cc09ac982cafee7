//! The provider's own pages, as a browser drives them: a journey URL (`/signin/{id}`) answers a
//! GET with its current page and a POST of that page's form with a 303 back to itself (or on to
//! the client), or with the same page and a message.

use reqwest::StatusCode;
use url::Url;

/// The status and text of the page at `url`.
pub async fn page_at(http: &reqwest::Client, url: &Url) -> (StatusCode, String) {
    let res = http.get(url.clone()).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

/// The text of the page at `url`, whatever its status.
pub async fn get(http: &reqwest::Client, url: &Url) -> String {
    page_at(http, url).await.1
}

/// Posts a form to the journey.
pub async fn post(
    http: &reqwest::Client,
    journey: &Url,
    form: &[(String, String)],
) -> reqwest::Response {
    http.post(journey.as_str()).form(form).send().await.unwrap()
}

/// Posts a form to the journey and reads the page it answers with.
pub async fn post_text(http: &reqwest::Client, journey: &Url, form: &[(String, String)]) -> String {
    let res = post(http, journey, form).await;
    assert_eq!(res.status(), StatusCode::OK, "a page, not a redirect");
    res.text().await.unwrap()
}

/// The `Location` of a 303 (a path of the provider's), made absolute with `base`.
pub fn see_other_location_abs(server: &super::TestServer, res: &reqwest::Response) -> Url {
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let loc = res.headers()["location"].to_str().unwrap();
    Url::parse(&server.url(loc)).unwrap()
}

/// The "Choose a secret word" form, for the page it was read from.
pub fn word_form(page: &str, word: &str, again: &str) -> Vec<(String, String)> {
    vec![
        ("csrf".into(), super::csrf_of(page)),
        ("secret_word".into(), word.into()),
        ("confirm_secret_word".into(), again.into()),
    ]
}

/// The "Choose your challenge questions" form: question `choice[i]` answered
/// "`prefix` `choice[i]`".
pub fn questions_form(page: &str, choice: &[usize], prefix: &str) -> Vec<(String, String)> {
    let mut form = vec![("csrf".to_string(), super::csrf_of(page))];
    for (i, q) in choice.iter().enumerate() {
        form.push((format!("question_{i}"), q.to_string()));
        form.push((format!("answer_{i}"), format!("{prefix} {q}")));
    }
    form
}

/// The two enrolment pages (secret word `word`, question i answered "`prefix` i"); returns the
/// answer to the questions page.
pub async fn enrol(
    http: &reqwest::Client,
    journey: &Url,
    word: &str,
    prefix: &str,
) -> reqwest::Response {
    let page = get(http, journey).await;
    assert!(page.contains("Choose a secret word"), "{page}");
    let res = post(http, journey, &word_form(&page, word, word)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = get(http, journey).await;
    assert!(page.contains("Choose your challenge questions"), "{page}");
    post(
        http,
        journey,
        &questions_form(&page, &[0, 1, 2, 3, 4], prefix),
    )
    .await
}

/// Activates the seeded account through the portal (the service desk's temporary password, then
/// the activation pages) with `new_password` and recovery data: secret word "Marmalade",
/// question i answered "answer number i". The account needs a token given by
/// [`super::mfa::give_token`].
pub async fn activate(server: &super::TestServer, http: &reqwest::Client, new_password: &str) {
    use super::mfa::passcode;
    let temporary = server
        .provider
        .issue_temporary_password(&oidc_core::Actor::BreakGlass, super::USERNAME)
        .await
        .unwrap();
    let res = http.get(server.url("/activate")).send().await.unwrap();
    let journey = see_other_location_abs(server, &res);
    let page = get(http, &journey).await;
    let post = |form: Vec<(&'static str, String)>| http.post(journey.as_str()).form(&form).send();
    post(vec![
        ("csrf", super::csrf_of(&page)),
        ("username", super::USERNAME.into()),
        ("passcode", passcode(server)),
    ])
    .await
    .unwrap();
    let page = get(http, &journey).await;
    post(vec![
        ("csrf", super::csrf_of(&page)),
        ("username", super::USERNAME.into()),
        ("password", temporary.secret().into()),
    ])
    .await
    .unwrap();
    let page = get(http, &journey).await;
    post(vec![
        ("csrf", super::csrf_of(&page)),
        ("new_password", new_password.into()),
        ("confirm_password", new_password.into()),
    ])
    .await
    .unwrap();
    let res = enrol(http, &journey, "Marmalade", "answer number").await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(page.contains("Your account is ready"), "{page}");
}
