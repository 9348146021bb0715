// Signs in on the emulator's login page in a real headless Chromium (Debian's, never a
// downloaded one) and follows the redirect to `ociauth session authenticate`'s local callback,
// as a person would. Used by tests/interop/tests/browser_login.rs.
//
//   node login.mjs --url LOGIN_URL --username U --password P --user-data-dir DIR
//                  [--wrong-password W] [--chromium /usr/bin/chromium]
//                  [--timeout-ms 60000] [--screenshot-dir DIR]
//
// With --wrong-password it first submits that password and records the page's error. Prints one
// JSON object on stdout; never prints the token (only whether the callback URL carried one).
// Exits 1 with a message on stderr when a step fails.

import { chromium } from 'playwright-core';

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i];
    if (!key.startsWith('--') || i + 1 >= argv.length) {
      throw new Error(`bad argument ${key}`);
    }
    out[key.slice(2)] = argv[i + 1];
  }
  for (const required of ['url', 'username', 'password', 'user-data-dir']) {
    if (!out[required]) {
      throw new Error(`--${required} is required`);
    }
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));
const timeout = Number(args['timeout-ms'] ?? 60000);
const shots = args['screenshot-dir'];
const result = {};

const context = await chromium.launchPersistentContext(args['user-data-dir'], {
  executablePath: args.chromium ?? '/usr/bin/chromium',
  headless: true,
  timeout,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-proxy-server',
  ],
});

async function shot(page, name) {
  if (shots) {
    await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
  }
}

async function submit(page, password) {
  await page.fill('#username', args.username);
  await page.fill('#password', password);
  const [response] = await Promise.all([
    page.waitForNavigation({ timeout }),
    page.click('#submit'),
  ]);
  return response;
}

try {
  context.setDefaultTimeout(timeout);
  const page = context.pages()[0] ?? (await context.newPage());
  const login = await page.goto(args.url, { timeout });
  result.loginStatus = login ? login.status() : null;
  result.loginTitle = await page.title();
  await shot(page, 'login');

  if (args['wrong-password']) {
    const response = await submit(page, args['wrong-password']);
    result.wrongPasswordStatus = response ? response.status() : null;
    result.wrongPasswordError = (await page.textContent('#error'))?.trim() ?? null;
    result.usernameKept = await page.inputValue('#username');
    await shot(page, 'wrong-password');
  }

  await page.fill('#username', args.username);
  await page.fill('#password', args.password);
  await Promise.all([
    page.waitForURL((u) => u.hash.startsWith('#security_token='), { timeout }),
    page.click('#submit'),
  ]);
  // The callback page hands the fragment to its server, then says so.
  await page.waitForFunction(
    () => (document.getElementById('status')?.textContent ?? '').startsWith('Authorization completed'),
    null,
    { timeout },
  );
  const finalUrl = new URL(page.url());
  result.callbackOrigin = finalUrl.origin;
  result.callbackPath = finalUrl.pathname;
  result.fragmentHasToken = finalUrl.hash.startsWith('#security_token=');
  result.callbackText = (await page.textContent('#status'))?.trim() ?? null;
  await shot(page, 'callback');
} catch (e) {
  process.stderr.write(`login.mjs: ${e?.message ?? e}\n${JSON.stringify(result)}\n`);
  await context.close();
  process.exit(1);
}
await context.close();
process.stdout.write(`${JSON.stringify(result)}\n`);
