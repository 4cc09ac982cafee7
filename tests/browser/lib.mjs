// What the scenarios share: the fixtures the servers wrote, passcodes from a token's seed, the
// outbox, and the checks every page gets (axe, screenshots at two widths, no 5xx, no CSP report).
import { createHmac } from 'node:crypto';
import { readFileSync, readdirSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import assert from 'node:assert/strict';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const fx = JSON.parse(readFileSync(process.env.FIXTURES, 'utf8'));
const SCREENSHOTS = process.env.SCREENSHOT_DIR;
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 375, height: 740 };

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

// ---------------------------------------------------------------------------------------------
// Passcodes (RFC 6238), from the token's otpauth:// URI, never the same time step twice.

function base32(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0, value = 0;
  const out = [];
  for (const c of s.replace(/=+$/, '').toUpperCase()) {
    const i = alphabet.indexOf(c);
    if (i < 0) throw new Error(`not base32: ${c}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) { out.push((value >>> (bits - 8)) & 0xff); bits -= 8; }
  }
  return Buffer.from(out);
}

/** A token from its otpauth:// URI (or the base32 key shown on the activation page). */
export function token(otpauthOrKey) {
  let secret = otpauthOrKey, digits = 6, period = 30, algorithm = 'sha1';
  if (otpauthOrKey.startsWith('otpauth://')) {
    const q = new URL(otpauthOrKey).searchParams;
    secret = q.get('secret');
    digits = Number(q.get('digits') || 6);
    period = Number(q.get('period') || 30);
    algorithm = (q.get('algorithm') || 'SHA1').toLowerCase();
  }
  // The servers activated their tokens with the previous step's code.
  return { seed: base32(secret), digits, period, algorithm, lastStep: step(period) - 1 };
}

function step(period) { return Math.floor(Date.now() / 1000 / period); }

export function codeAt(t, s) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(s));
  const mac = createHmac(t.algorithm, t.seed).update(counter).digest();
  const o = mac[mac.length - 1] & 0x0f;
  const n = (mac.readUInt32BE(o) & 0x7fffffff) % 10 ** t.digits;
  return String(n).padStart(t.digits, '0');
}

/**
 * The token's code for a time step it has not used yet: a tokencode is accepted once per step,
 * so a second passcode waits for the next step, as a person would.
 */
export async function passcode(t) {
  for (;;) {
    const s = step(t.period);
    // Not in the last second of a step: the server must see the same step.
    const left = t.period - ((Date.now() / 1000) % t.period);
    if (s > t.lastStep && left > 1.5) {
      t.lastStep = s;
      return codeAt(t, s);
    }
    await sleep(Math.max(200, Math.min(left * 1000 + 100, 31000)));
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// The outbox: one RFC 5322 .eml file per message.

function decodeBody(raw) {
  const [head, ...rest] = raw.split(/\r?\n\r?\n/);
  let body = rest.join('\n\n');
  if (/content-transfer-encoding:\s*quoted-printable/i.test(head)) {
    body = body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16)));
  } else if (/content-transfer-encoding:\s*base64/i.test(head)) {
    body = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  }
  return { head, body };
}

/** The newest message to `to` whose subject contains `subject` (waits up to 10 s). */
export async function mail(to, subject) {
  const deadline = Date.now() + 10000;
  for (;;) {
    let files = [];
    try { files = readdirSync(fx.outbox).filter((f) => f.endsWith('.eml')).sort().reverse(); } catch { /* not yet */ }
    for (const f of files) {
      const { head, body } = decodeBody(readFileSync(join(fx.outbox, f), 'utf8'));
      const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
      const toLine = /^to:(.*)$/im.exec(unfolded)?.[1] ?? '';
      const subj = /^subject:(.*)$/im.exec(unfolded)?.[1] ?? '';
      if (toLine.includes(to) && subj.toLowerCase().includes(subject.toLowerCase())) return { subject: subj.trim(), body };
    }
    if (Date.now() > deadline) {
      const seen = files.map((f) => readFileSync(join(fx.outbox, f), 'utf8').split(/\r?\n\r?\n/)[0].split(/\r?\n/)
        .filter((l) => /^(to|subject):/i.test(l)).join(' / '));
      throw new Error(`no mail to ${to} about "${subject}" in ${fx.outbox}; there are:\n${seen.join('\n')}`);
    }
    await sleep(200);
  }
}

// ---------------------------------------------------------------------------------------------
// Every page: axe (no serious or critical violation), screenshots at desktop and phone width, no
// horizontal scrolling at phone width.

export const axeNotes = [];
export const axeChecked = [];
const shot = new Set();

/** A browser context that records every 5xx and every CSP violation it meets. */
export async function context(browser) {
  const ctx = await browser.newContext({ viewport: DESKTOP });
  ctx.problems = [];
  ctx.on('page', (p) => watch(ctx, p));
  return ctx;
}

function watch(ctx, page) {
  page.on('response', (r) => {
    if (r.status() >= 500) ctx.problems.push(`${r.status()} from ${r.url()}`);
  });
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) ctx.problems.push(`CSP: ${m.text()}`);
  });
  page.on('pageerror', (e) => ctx.problems.push(`script error: ${e.message}`));
}

export async function newPage(ctx) {
  const page = await ctx.newPage();
  return page;
}

export function assertClean(ctx) {
  assert.deepEqual(ctx.problems, [], 'no 5xx answer, no CSP violation, no script error');
}

/** Checks the page with axe, and saves its screenshots under `name` (once per name). */
export async function check(page, name) {
  await page.waitForLoadState('load');
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(() =>
    // eslint-disable-next-line no-undef
    axe.run(document, { resultTypes: ['violations'] }));
  axeChecked.push(name || page.url());
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of result.violations.filter((v) => !bad.includes(v))) {
    axeNotes.push(`${name}: ${v.impact} ${v.id} (${v.nodes.length})`);
  }
  assert.deepEqual(
    bad.map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
    [],
    `axe on ${name} (${page.url()})`,
  );
  if (name && SCREENSHOTS && !shot.has(name)) {
    shot.add(name);
    mkdirSync(SCREENSHOTS, { recursive: true });
    const viewport = page.viewportSize();
    await page.screenshot({ path: join(SCREENSHOTS, `${name}-desktop.png`), fullPage: true });
    await page.setViewportSize(PHONE);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${name} fits a phone's width (overflows by ${overflow}px)`);
    await page.screenshot({ path: join(SCREENSHOTS, `${name}-phone.png`), fullPage: true });
    await page.setViewportSize(viewport);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Steps people take.

export function host(url) { return new URL(url).host; }

/** "Sign in with your AHS account": username and password, then the passcode. */
export async function signIn(page, who, t, names = {}) {
  await page.waitForURL((u) => u.pathname.startsWith('/signin/'));
  assert.equal(host(page.url()), host(fx.iam), 'the sign-in page is AHS IAM\'s');
  if (names.signin) await check(page, names.signin);
  await page.getByLabel('Username').fill(who.username);
  await page.getByLabel('Password', { exact: true }).fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => u.pathname.startsWith('/signin/'));
  await page.getByRole('heading', { name: 'Verify your identity' }).waitFor();
  if (names.passcode) await check(page, names.passcode);
  await page.getByLabel(/passcode/i).fill(await passcode(t));
  await page.getByRole('button', { name: 'Submit' }).click();
}
