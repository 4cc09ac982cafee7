// The AHS IAM and CPAR pages in headless Chromium. Started by tests/tests/browser.rs, which runs
// the servers (IAM on 127.0.0.1, CPAR on localhost: two sites) and writes the fixtures: each
// scenario has its own people and tokens, so the scenarios run side by side.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  fx, launch, token, passcode, codeAt, mail, context, newPage, assertClean, check, signIn, host,
  axeNotes, axeChecked,
} from './lib.mjs';

let browser;

async function adminSignIn(page, who, t, names = {}) {
  await page.goto(`${fx.iam}/admin`);
  await signIn(page, who, t, names);
  await page.getByRole('heading', { name: 'IAM administration' }).waitFor();
}

describe('AHS IAM and CPAR in a real browser', { concurrency: true }, () => {
  before(async () => { browser = await launch(); });
  after(async () => {
    await browser?.close();
    const pages = new Set(axeChecked);
    console.log(`axe-core: ${axeChecked.length} checks of ${pages.size} pages, no serious or critical violation; `
      + `minor or moderate: ${axeNotes.length ? axeNotes.join('; ') : 'none'}`);
  });

  it('walks the quick reference: URF, Welcome email, temporary password, activation, CPAR, log out', async () => {
    const s = fx.story;

    // 1. An Access Administrator approves the URF, with a soft token.
    const aa = await context(browser);
    const aaPage = await newPage(aa);
    await adminSignIn(aaPage, s.approver, token(s.approver.otpauth),
      { signin: 'iam-signin', passcode: 'iam-passcode' });
    await check(aaPage, 'iam-admin-home');
    await aaPage.getByRole('navigation', { name: 'IAM administration' }).getByRole('link', { name: 'Registrations' }).click();
    await aaPage.getByRole('heading', { name: 'Registrations (URFs)' }).waitFor();
    await check(aaPage, 'iam-admin-registrations');
    const urf = aaPage.getByRole('region', { name: s.urf_name });
    await urf.getByLabel('Username (AHS Network ID) to create').fill(s.username);
    await urf.getByLabel(/Soft token/).check();
    await urf.getByRole('button', { name: 'Approve and create the account' }).click();
    await aaPage.getByRole('heading', { name: 'Registration approved' }).waitFor();
    await check(aaPage, 'iam-admin-approved');
    const activationCode = (await aaPage.locator('.shown-once-value').innerText()).trim();
    assert.match(activationCode, /^\S{6,}$/);
    assertClean(aa);
    await aa.close();

    // 2. The Welcome email names the username and where to start.
    const welcome = await mail(s.urf_email, 'Welcome');
    assert.ok(welcome.body.includes(s.username), welcome.body);
    assert.ok(welcome.body.includes('/activate'), welcome.body);

    // 3. The service desk verifies the first-time caller by an emailed code, then issues a
    //    temporary password.
    const desk = await context(browser);
    const deskPage = await newPage(desk);
    await adminSignIn(deskPage, s.desk, token(s.desk.otpauth));
    await deskPage.getByRole('navigation', { name: 'IAM administration' }).getByRole('link', { name: 'Users' }).click();
    await deskPage.getByLabel('Username, email or name contains').fill(s.username);
    await deskPage.getByRole('button', { name: 'Search' }).click();
    await check(deskPage, 'iam-admin-users');
    await deskPage.getByRole('link', { name: s.username, exact: true }).click();
    await deskPage.getByRole('heading', { name: `Account ${s.username}` }).waitFor();
    await check(deskPage, 'iam-admin-user');
    await deskPage.getByRole('button', { name: 'Email a one-time code to the caller' }).click();
    const codeMail = await mail(s.urf_email, 'verification code');
    const callerCode = /this code: (\d+)/.exec(codeMail.body)?.[1];
    assert.ok(callerCode, codeMail.body);
    await deskPage.getByLabel('Code the caller reads to you').fill(callerCode);
    await deskPage.getByRole('button', { name: 'Check the code' }).click();
    await deskPage.getByRole('status').filter({ hasText: /match/i }).first().waitFor();
    await deskPage.getByRole('button', { name: 'Issue a temporary password' }).click();
    await deskPage.locator('.shown-once-value').waitFor();
    await check(deskPage, 'iam-admin-temporary-password');
    const temporary = (await deskPage.locator('.shown-once-value').innerText()).trim();
    assertClean(desk);
    await desk.close();

    // 4. The new Panel Administrator activates the soft token: the page shows the key an
    //    authenticator app would scan; the test computes the codes from it.
    const me = await context(browser);
    const page = await newPage(me);
    await page.goto(`${fx.iam}/activate-token`);
    await check(page, 'iam-activate-token');
    await page.getByLabel('Username').fill(s.username);
    await page.getByLabel('Activation code').fill(activationCode);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Add the token to your authenticator app' }).waitFor();
    await check(page, 'iam-activate-token-confirm');
    const key = (await page.locator('.hint code').innerText()).replace(/\s+/g, '');
    const t = token(key);
    t.lastStep = 0;
    await page.getByLabel('Code from the app').fill(await passcode(t));
    await page.getByRole('button', { name: 'Activate' }).click();
    await page.getByRole('heading', { name: 'Your token is active' }).waitFor();
    await check(page, 'iam-token-active');

    // 5. First-time activation at the IAM portal: passcode, temporary password, new password,
    //    secret word, five questions.
    await page.goto(`${fx.iam}/activate`);
    await page.getByRole('heading', { name: 'Activate your account: token' }).waitFor();
    await check(page, 'iam-activate-1-token');
    await page.getByLabel('Username').fill(s.username);
    await page.getByLabel('Token passcode').fill(await passcode(t));
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('heading', { name: 'Activate your account: temporary password' }).waitFor();
    await check(page, 'iam-activate-2-temporary-password');
    await page.getByLabel('Username').fill(s.username);
    await page.getByLabel('Temporary password').fill(temporary);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Create a new password' }).waitFor();
    // The rules are checked as the person types (the page's script; the server decides).
    const minRule = page.locator('li[data-rule="min"]');
    await page.getByLabel('New password', { exact: true }).fill('short');
    await minRule.and(page.locator('.rule-unmet')).waitFor();
    assert.match(await minRule.innerText(), /not met yet/);
    await page.getByLabel('New password', { exact: true }).fill('a much longer phrase');
    await minRule.and(page.locator('.rule-met')).waitFor();
    await page.getByLabel('New password', { exact: true }).fill('');
    await check(page, 'iam-activate-3-new-password');
    // A password that breaks the rules: the server says why, next to the field, and focus goes there.
    await page.getByLabel('New password', { exact: true }).fill('short');
    await page.getByLabel('Type the new password again').fill('short');
    await page.getByRole('button', { name: 'Set password' }).click();
    await page.getByRole('alert').waitFor();
    await check(page, 'iam-new-password-errors');
    const newPassword = 'quiet river lantern 42';
    await page.getByLabel('New password', { exact: true }).fill(newPassword);
    await page.getByLabel('Type the new password again').fill(newPassword);
    await page.getByRole('button', { name: 'Set password' }).click();
    await page.getByRole('heading', { name: 'Choose a secret word' }).waitFor();
    await check(page, 'iam-activate-4-secret-word');
    await page.getByLabel('Secret word', { exact: true }).fill('Sunflower');
    await page.getByLabel('Type the secret word again').fill('Sunflower');
    // A double click sends the form once.
    await page.getByRole('button', { name: 'Next' }).dblclick();
    await page.getByRole('heading', { name: 'Choose your challenge questions' }).waitFor();
    await check(page, 'iam-activate-5-questions');
    for (let i = 0; i < 5; i++) {
      await page.locator(`#answer_${i}`).fill(`answer number ${i + 1}`);
    }
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { name: 'Your account is ready' }).waitFor();
    await check(page, 'iam-account-ready');

    // 6. A CPAR deep link: sign in, passcode (the next time step), and the page asked for.
    const deepLink = `${fx.cpar}/panels`;
    await page.goto(deepLink);
    await signIn(page, { username: s.username, password: newPassword }, t);
    await page.waitForURL(deepLink);
    assert.equal(host(page.url()), host(fx.cpar));
    await page.getByRole('heading', { name: 'Welcome, Nancy Akitt' }).waitFor();
    await check(page, 'cpar-home');
    // The back button goes to pages that are done: never a server error (recorded by the context).
    await page.goBack();
    await page.waitForLoadState('load');
    await page.goto(deepLink);
    await page.getByRole('heading', { name: 'Welcome, Nancy Akitt' }).waitFor();

    // 7. Log out: CPAR and AHS IAM both end their sessions.
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForLoadState('load');
    await page.waitForTimeout(500);
    assert.equal(await page.locator('h1').innerText(), 'Signed out', `after Log out: ${page.url()}: ${await page.locator('main').innerText()}`);
    assert.equal(host(page.url()), host(fx.cpar));
    await check(page, 'cpar-signed-out');
    await page.goto(deepLink);
    await page.waitForURL((u) => u.pathname.startsWith('/signin/'));
    assertClean(me);
    await me.close();
  });

  it('turns an Access Administrator away from CPAR', async () => {
    const ctx = await context(browser);
    const page = await newPage(ctx);
    await page.goto(`${fx.cpar}/`);
    await signIn(page, fx.denied, token(fx.denied.otpauth));
    await page.getByRole('heading', { name: 'You do not have access to CPAR' }).waitFor();
    assert.equal(host(page.url()), host(fx.cpar));
    await check(page, 'cpar-denied');
    assertClean(ctx);
    await ctx.close();
  });

  it('says a wrong passcode is wrong, next to the field, and lets the person try again', async () => {
    const who = fx.wrong_passcode;
    const t = token(who.otpauth);
    const ctx = await context(browser);
    const page = await newPage(ctx);
    await page.goto(`${fx.cpar}/`);
    await page.waitForURL((u) => u.pathname.startsWith('/signin/'));
    await page.getByLabel('Username').fill(who.username);
    await page.getByLabel('Password', { exact: true }).fill(who.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    // Not a passcode at all: said at once, next to the field, nothing spent.
    await page.getByLabel('Passcode').fill('12ab');
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.getByRole('alert').waitFor();
    const field = page.getByLabel('Passcode');
    assert.equal(await field.getAttribute('aria-invalid'), 'true');
    assert.match(await field.getAttribute('aria-describedby'), /passcode-error/);
    await check(page, 'iam-passcode-error');
    // A wrong passcode: one message for every failure, and the sign-in starts again.
    const now = Math.floor(Date.now() / 1000 / t.period);
    let wrong = '000000';
    while ([-1, 0, 1].some((d) => codeAt(t, now + d) === wrong)) wrong = String(Number(wrong) + 1).padStart(6, '0');
    await page.getByLabel('Passcode').fill(wrong);
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.getByRole('alert').filter({ hasText: 'The username, password or passcode is incorrect' }).waitFor();
    await check(page, 'iam-signin-error');
    await page.getByLabel('Username').fill(who.username);
    await page.getByLabel('Password', { exact: true }).fill(who.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel('Passcode').fill(await passcode(t));
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.getByRole('heading', { name: 'Welcome, Pat Wrong' }).waitFor();
    assertClean(ctx);
    await ctx.close();
  });

  it('resets a forgotten password with the passcode, the secret word and two answers', async () => {
    const who = fx.forgot;
    const t = token(who.otpauth);
    const ctx = await context(browser);
    const page = await newPage(ctx);
    // First-time activation sets the recovery data.
    await page.goto(`${fx.iam}/activate`);
    await page.getByLabel('Username').fill(who.username);
    await page.getByLabel('Token passcode').fill(await passcode(t));
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByLabel('Temporary password').fill(who.temporary_password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByLabel('New password', { exact: true }).fill('first pass phrase 7');
    await page.getByLabel('Type the new password again').fill('first pass phrase 7');
    await page.getByRole('button', { name: 'Set password' }).click();
    await page.getByLabel('Secret word', { exact: true }).fill('Marigold');
    await page.getByLabel('Type the secret word again').fill('Marigold');
    await page.getByRole('button', { name: 'Next' }).click();
    const answers = {};
    for (let i = 0; i < 5; i++) {
      const q = await page.locator(`#question_${i} option:checked`).innerText();
      answers[q.trim()] = `reply ${i + 1}`;
      await page.locator(`#answer_${i}`).fill(`reply ${i + 1}`);
    }
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { name: 'Your account is ready' }).waitFor();

    // Later: "Forgot your password?" from the sign-in page.
    await page.goto(`${fx.cpar}/`);
    await page.waitForURL((u) => u.pathname.startsWith('/signin/'));
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await page.getByRole('heading', { name: 'Forgot your password?' }).waitFor();
    await check(page, 'iam-forgot-1');
    await page.getByLabel('Username').fill(who.username);
    await page.getByLabel('Token passcode').fill(await passcode(t));
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByLabel('Secret word').waitFor();
    await check(page, 'iam-forgot-2-answers');
    await page.getByLabel('Secret word').fill('marigold');
    for (const i of [0, 1]) {
      const q = (await page.locator(`label[for=answer_${i}]`).innerText()).trim();
      assert.ok(answers[q], `asked one of the chosen questions: ${q}`);
      await page.locator(`#answer_${i}`).fill(answers[q]);
    }
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('heading', { name: 'Create a new password' }).waitFor();
    await page.getByLabel('New password', { exact: true }).fill('second pass phrase 8');
    await page.getByLabel('Type the new password again').fill('second pass phrase 8');
    await page.getByRole('button', { name: 'Set password' }).click();
    // Back to the sign-in it was started from, and the new password works.
    await page.waitForURL((u) => u.pathname.startsWith('/signin/'));
    await page.getByLabel('Username').fill(who.username);
    await page.getByLabel('Password', { exact: true }).fill('second pass phrase 8');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Verify your identity' }).waitFor();
    assertClean(ctx);
    await ctx.close();
  });

  it('signs in with the keyboard only (Tab and Enter)', async () => {
    const who = fx.keyboard;
    const ctx = await context(browser);
    const page = await newPage(ctx);
    await page.goto(`${fx.cpar}/`);
    await page.waitForURL((u) => u.pathname.startsWith('/signin/'));
    // The username field has the focus; Tab moves to the password; Enter submits.
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'username');
    await page.keyboard.type(who.username);
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'password');
    await page.keyboard.type(who.password);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Verify your identity' }).waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'passcode');
    await page.keyboard.type(await passcode(token(who.otpauth)));
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: /^Welcome/ }).waitFor();
    // The skip link comes first; then on, by Tab, to the first panel.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to main content');
    let onPanel = false;
    for (let i = 0; i < 15 && !onPanel; i++) {
      await page.keyboard.press('Tab');
      onPanel = await page.evaluate(() => document.activeElement?.getAttribute('href')?.startsWith('/panels/') ?? false);
    }
    assert.ok(onPanel, 'a panel link is reachable by Tab');
    await page.keyboard.press('Enter');
    await page.waitForURL((u) => u.pathname.startsWith('/panels/'));
    await check(page, 'cpar-panel');
    assertClean(ctx);
    await ctx.close();
  });

  it('asks consent for a third-party application, lets the person choose the account, answers by form_post, and withdraws at the portal', async () => {
    const app = fx.third_party;
    const who = app.person;
    const discovery = await (await fetch(`${fx.iam}/.well-known/openid-configuration`)).json();
    const ctx = await context(browser);
    // The application's redirect URI, answered here in the browser: each authorization
    // response it receives, and a small page of its own.
    const received = [];
    await ctx.route((u) => u.href.startsWith(app.redirect_uri), async (route) => {
      const req = route.request();
      const params = req.method() === 'POST'
        ? new URLSearchParams(req.postData() ?? '')
        : new URL(req.url()).searchParams;
      received.push({ method: req.method(), params });
      await route.fulfill({
        status: 200,
        contentType: 'text/html; charset=utf-8',
        body: `<!doctype html><html lang="en"><head><title>${app.client_name}</title></head>`
          + `<body><main><h1>${app.client_name}</h1><p>Back at the application.</p></main></body></html>`,
      });
    });
    const authorize = (extra) => {
      const verifier = randomBytes(32).toString('base64url');
      const state = randomBytes(12).toString('base64url');
      const q = new URLSearchParams({
        response_type: 'code',
        client_id: app.client_id,
        redirect_uri: app.redirect_uri,
        scope: 'openid profile email',
        state,
        nonce: randomBytes(12).toString('base64url'),
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
        ...extra,
      });
      return { url: `${discovery.authorization_endpoint}?${q}`, state };
    };
    const answered = async (state) => {
      for (let i = 0; i < 100 && !received.some((r) => r.params.get('state') === state); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const r = received.find((x) => x.params.get('state') === state);
      assert.ok(r, `the application received the answer to ${state}; the browser is at ${page.url()}: `
        + `${await page.locator('body').innerText().catch(() => '')}`);
      return r;
    };
    const page = await newPage(ctx);

    // 1. Sign in for the application: the consent page lists what it asks for.
    const first = authorize({ response_mode: 'form_post' });
    await page.goto(first.url);
    await signIn(page, who, token(who.otpauth));
    await page.getByRole('heading', { name: `Allow ${app.client_name} to use your account?` }).waitFor();
    assert.ok(await page.locator('#consent-items li').count() > 0, 'the consent page lists what is asked');
    await check(page, 'iam-consent');

    // 2. Allow: the answer goes back by form_post. The page's script submits it at once; held
    //    back here (as with scripts off) for the screenshot, then Continue sends it.
    await page.route(`${fx.iam}/assets/form_post.js`, (route) =>
      route.fulfill({ status: 200, contentType: 'text/javascript', body: '// held for the screenshot\n' }));
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.getByRole('heading', { name: 'Returning to the application' }).waitFor();
    await check(page, 'iam-form-post');
    await page.unroute(`${fx.iam}/assets/form_post.js`);
    await page.getByRole('button', { name: 'Continue' }).click();
    const r1 = await answered(first.state);
    assert.equal(r1.method, 'POST', 'form_post answers with a POST');
    assert.ok(r1.params.get('code'), 'with a code');
    assert.equal(r1.params.get('iss'), discovery.issuer);

    // 3. prompt=select_account with the session: continue as the signed-in account; consent
    //    is remembered, and the form_post page submits itself.
    const second = authorize({ response_mode: 'form_post', prompt: 'select_account' });
    await page.goto(second.url);
    await page.getByRole('heading', { name: 'Choose an account' }).waitFor();
    await check(page, 'iam-select-account');
    await page.getByRole('button', { name: `Continue as ${who.username}` }).click();
    const r2 = await answered(second.state);
    assert.equal(r2.method, 'POST');
    assert.ok(r2.params.get('code'));
    await page.getByRole('heading', { name: app.client_name }).waitFor();

    // 4. The portal's "Applications you allowed": the application and what it may do; withdraw.
    await page.goto(`${fx.iam}/account/apps`);
    await page.getByRole('heading', { name: 'Applications you allowed' }).waitFor();
    await page.getByRole('heading', { name: app.client_name }).waitFor();
    await check(page, 'iam-account-apps');
    await page.getByRole('button', { name: `Withdraw permission for ${app.client_name}` }).click();
    await page.getByRole('status').filter({ hasText: 'The permission was withdrawn' }).waitFor();
    assert.equal(await page.getByRole('button', { name: /^Withdraw permission/ }).count(), 0);
    await check(page, 'iam-account-apps-withdrawn');

    // 5. Withdrawn: the application must ask again; Deny, and it hears access_denied.
    // (By form_post too: a route sees a navigation's first request, not a redirect's target.)
    const third = authorize({ response_mode: 'form_post' });
    await page.goto(third.url);
    await page.getByRole('heading', { name: `Allow ${app.client_name} to use your account?` }).waitFor();
    await page.getByRole('button', { name: 'Deny' }).click();
    const r3 = await answered(third.state);
    assert.equal(r3.method, 'POST');
    assert.equal(r3.params.get('error'), 'access_denied');
    assert.equal(r3.params.get('code'), null);
    assertClean(ctx);
    await ctx.close();
  });

  it('shows the IAM administrator the audit log, and people the error pages', async () => {
    const ctx = await context(browser);
    const page = await newPage(ctx);
    await adminSignIn(page, fx.iam_admin, token(fx.iam_admin.otpauth));
    await page.getByRole('navigation', { name: 'IAM administration' }).getByRole('link', { name: 'Audit log' }).click();
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    await check(page, 'iam-admin-audit');
    const res = await page.goto(`${fx.iam}/no-such-page`);
    assert.equal(res.status(), 404);
    await check(page, 'iam-not-found');
    const expired = await page.goto(`${fx.iam}/signin/0190a000-0000-7000-8000-000000000000`);
    assert.equal(expired.status(), 400);
    await check(page, 'iam-signin-expired');
    await page.goto(`${fx.iam}/change-password`);
    await page.getByRole('heading', { name: 'Update / Change your password' }).waitFor();
    await check(page, 'iam-change-password');
    assertClean(ctx);
    await ctx.close();
  });
});
