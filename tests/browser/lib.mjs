// Helpers of the console's browser tests: Debian's Chromium through playwright-core (nothing
// downloads a browser), sign-in, screenshots into docs/console/, the JSON API, TOTP codes.
import { chromium } from 'playwright-core';
import { createHmac } from 'node:crypto';
import { readFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SHOTS = path.join(HERE, '..', '..', 'docs', 'console');

/** What seed.mjs made: base URL, ids, accounts, a worker with an active card. */
export const world = JSON.parse(readFileSync(process.env.HUIGONG_BROWSER_WORLD, 'utf8'));
export const BASE = world.base;
export const PASSWORD = world.password;

/** Chromium, headless, with a fresh profile; one per test file. */
export async function launch() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  return browser;
}

/** A new 1280×800 page in its own context (own cookies), Chinese locale. */
export async function newPage(browser) {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 },
    locale: 'zh-CN',
    baseURL: BASE,
  });
  const page = await context.newPage();
  page.on('console', (msg) => {
    // A CSP violation is a bug of ours: fail loudly.
    if (msg.type() === 'error' && /Content Security Policy/.test(msg.text())) {
      throw new Error('CSP violation: ' + msg.text());
    }
  });
  return page;
}

/** Fills and submits the sign-in form. */
export async function signIn(page, username, password = PASSWORD) {
  await page.goto('/console/login');
  await page.getByLabel('用户名').fill(username);
  await page.getByLabel('密码').fill(password);
  await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: '登录' }).click()]);
}

/** A 1280×800 screenshot of the page into docs/console/<name>.png. */
export async function screenshot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name + '.png') });
}

/** The JSON API: [status, body]. */
export async function api(method, p, token, body) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = 'Bearer ' + token;
  const res = await fetch(BASE + p, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { json = text; }
  return [res.status, json];
}

/** The RFC 6238 code (SHA-1, 6 digits, 30 s) of a base32 secret, `steps` steps from now. */
export function totp(secret, steps = 0) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secret.replace(/=+$/, '').toUpperCase()) {
    bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  const counter = Math.floor(Date.now() / 1000 / 30) + steps;
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', Buffer.from(bytes)).update(msg).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const n = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, '0');
}
