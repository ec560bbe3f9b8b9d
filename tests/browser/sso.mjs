// Single sign-on in a real Chromium (Debian's), driven by playwright-core (issue 17). Two small
// test platforms run here, in Node, as relying parties. Each has a login link, a callback that
// exchanges the code and verifies the ID token against the JWKS (node:crypto), and a
// back-channel endpoint that verifies logout tokens.
// - The person signs in to the first platform through xuexin's real login and consent pages.
// - They sign in to the second one without a password.
// - 退出 at xuexin reaches both platforms' back-channel endpoints.
// axe-core runs on the provider's pages, and no script error or CSP refusal may occur (the
// consent form ends in a redirect to the platform, which form-action must allow).
//
// Run by tests/api/browser.rs, which starts the service, registers the platforms and passes:
//   XUEXIN_URL       the service's address (its issuer)
//   XUEXIN_SSO       JSON: {port, person: {phone, password}, platforms: {yz: {secret, name}, zb: …}}
//   CHROMIUM         the browser (default /usr/bin/chromium)
import { chromium } from "playwright-core";
import { createHash, createPublicKey, randomBytes, verify } from "node:crypto";
import { createServer } from "node:http";
import { audit, check, layout, open, problems, step, text } from "./common.mjs";

const base = process.env.XUEXIN_URL;
const sso = JSON.parse(process.env.XUEXIN_SSO || "null");
if (!base || !sso) {
  console.error("sso: XUEXIN_URL and XUEXIN_SSO are needed");
  process.exit(2);
}
const platformBase = `http://127.0.0.1:${sso.port}`;
const b64url = (buffer) => Buffer.from(buffer).toString("base64url");
const json = (part) => JSON.parse(Buffer.from(part, "base64url").toString("utf8"));

/** A JWT's claims, once its RS256 signature verifies against the provider's JWKS. */
async function verified(token, typ) {
  const [head, body, signature] = token.split(".");
  const header = json(head);
  check(header.alg === "RS256" && (!typ || header.typ === typ), `header ${JSON.stringify(header)}`);
  const jwks = await (await fetch(`${base}/oauth2/jwks`)).json();
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  check(jwk, `the key ${header.kid} is published`);
  const ok = verify(
    "RSA-SHA256",
    Buffer.from(`${head}.${body}`),
    createPublicKey({ key: jwk, format: "jwk" }),
    Buffer.from(signature, "base64url"),
  );
  check(ok, "the signature verifies");
  return json(body);
}

// The platforms' state: pending logins (state → {nonce, verifier}), signed-in subjects and sids,
// and the logout tokens each received.
const pending = new Map();
const signedIn = {};
const logouts = { yz: [], zb: [] };

async function readBody(request) {
  const chunks = [];
  for await (const chunk of request) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

const server = createServer(async (request, response) => {
  const url = new URL(request.url, platformBase);
  const [, client, action] = url.pathname.split("/");
  const platform = sso.platforms[client];
  const send = (status, html, headers = {}) => {
    response.writeHead(status, { "content-type": "text/html; charset=utf-8", ...headers });
    response.end(html);
  };
  try {
    if (!platform) return send(404, "no such platform");
    if (action === "login") {
      const state = b64url(randomBytes(16));
      const nonce = b64url(randomBytes(16));
      const verifier = b64url(randomBytes(32));
      pending.set(state, { client, nonce, verifier });
      const challenge = b64url(createHash("sha256").update(verifier).digest());
      const query = new URLSearchParams({
        response_type: "code",
        client_id: client,
        redirect_uri: `${platformBase}/${client}/callback`,
        scope: "openid profile",
        state,
        nonce,
        code_challenge: challenge,
        code_challenge_method: "S256",
      });
      return send(302, "", { location: `${base}/oauth2/authorize?${query}` });
    }
    if (action === "callback") {
      const login = pending.get(url.searchParams.get("state"));
      check(login && login.client === client, "the state is one this platform sent");
      check(url.searchParams.get("iss") === base, "iss names the provider (RFC 9207)");
      const answer = await fetch(`${base}/oauth2/token`, {
        method: "POST",
        headers: {
          authorization: `Basic ${Buffer.from(`${client}:${platform.secret}`).toString("base64")}`,
          "content-type": "application/x-www-form-urlencoded",
        },
        body: new URLSearchParams({
          grant_type: "authorization_code",
          code: url.searchParams.get("code"),
          redirect_uri: `${platformBase}/${client}/callback`,
          code_verifier: login.verifier,
        }),
      });
      const tokens = await answer.json();
      check(answer.ok, `the token endpoint answered ${answer.status}: ${JSON.stringify(tokens)}`);
      const claims = await verified(tokens.id_token);
      check(claims.iss === base && claims.aud === client, `iss and aud: ${JSON.stringify(claims)}`);
      check(claims.nonce === login.nonce, "the nonce comes back");
      check(claims.exp * 1000 > Date.now(), "the ID token is not expired");
      const info = await (
        await fetch(`${base}/oauth2/userinfo`, {
          headers: { authorization: `Bearer ${tokens.access_token}` },
        })
      ).json();
      check(info.sub === claims.sub, "userinfo is about the same person");
      signedIn[client] = { sub: claims.sub, sid: claims.sid, name: info.name };
      return send(
        200,
        `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>${platform.name}</title></head>` +
          `<body><main><h1>${platform.name}</h1><p id="welcome">${info.name}，欢迎</p></main></body></html>`,
      );
    }
    if (action === "bc" && request.method === "POST") {
      const form = new URLSearchParams(await readBody(request));
      const claims = await verified(form.get("logout_token"), "logout+jwt");
      check(claims.aud === client && claims.iss === base, "a logout token for this platform");
      check(
        claims.events && claims.events["http://schemas.openid.net/event/backchannel-logout"],
        "the back-channel logout event",
      );
      check(claims.nonce === undefined, "no nonce in a logout token");
      logouts[client].push(claims);
      return send(200, "");
    }
    return send(404, "not found");
  } catch (error) {
    problems.push(`platform ${client}: ${error.message}`);
    return send(500, String(error.message));
  }
});
await new Promise((resolve) => server.listen(sso.port, "127.0.0.1", resolve));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
let failed = null;
try {
  const page = await open(await browser.newContext({ locale: "zh-CN" }));

  await step("a platform sends the person to xuexin's login page, which names it", async () => {
    await page.goto(`${platformBase}/yz/login`);
    check(page.url().startsWith(`${base}/login?sso=`), `at the login page: ${page.url()}`);
    check((await text(page, "#sso-for")).includes(sso.platforms.yz.name), "the platform is named");
    await audit(page, "/login?sso=");
    await layout(page, "sso-login");
    await page.fill("#login", sso.person.phone);
    await page.fill("#password", sso.person.password);
    await Promise.all([page.waitForNavigation({ url: /\/oauth2\/consent/ }), page.click("form[action='/login'] button.primary")]);
  });

  await step("the consent page lists what it will see; allowing signs in", async () => {
    const listed = await text(page, "ul.scopes");
    check(listed.includes("姓名"), `the scopes are listed: ${listed}`);
    check((await text(page, "main")).includes(sso.platforms.yz.name), "the platform is named");
    await audit(page, "/oauth2/consent");
    await layout(page, "sso-consent");
    await Promise.all([
      page.waitForNavigation({ url: `${platformBase}/yz/callback*` }),
      page.click("button[value=allow]"),
    ]);
    check((await text(page, "#welcome")).includes("欢迎"), "the platform greets the person");
    check(signedIn.yz && signedIn.yz.sub, "the first platform signed the person in");
  });

  await step("a second platform signs them in without a password", async () => {
    await page.goto(`${platformBase}/zb/login`);
    check(page.url().startsWith(`${base}/oauth2/consent`), `no login page: ${page.url()}`);
    await Promise.all([
      page.waitForNavigation({ url: `${platformBase}/zb/callback*` }),
      page.click("button[value=allow]"),
    ]);
    check(signedIn.zb && signedIn.zb.sub !== signedIn.yz.sub, "another subject at another sector");
    check(signedIn.zb.sid === signedIn.yz.sid, "the same xuexin session");
    // Once allowed, the next sign-in to it asks nothing.
    await page.goto(`${platformBase}/zb/login`);
    check(page.url().startsWith(`${platformBase}/zb/callback`), `straight back: ${page.url()}`);
  });

  await step("账号管理 lists both platforms; 退出 at xuexin reaches both back channels", async () => {
    await page.goto(`${base}/account`);
    const grants = await text(page, "ul.grants");
    check(grants.includes(sso.platforms.yz.name) && grants.includes(sso.platforms.zb.name), grants);
    await audit(page, "/account (grants)");
    await Promise.all([page.waitForNavigation({ url: `${base}/login` }), page.click("header form[action='/logout'] button")]);
    const deadline = Date.now() + 30000;
    while ((logouts.yz.length === 0 || logouts.zb.length === 0) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    check(logouts.yz.length === 1 && logouts.zb.length === 1, `logouts: ${JSON.stringify(logouts)}`);
    for (const client of ["yz", "zb"]) {
      const claims = logouts[client][0];
      check(claims.sub === signedIn[client].sub && claims.sid === signedIn[client].sid, `${client}: sub and sid`);
    }
  });

  check(problems.length === 0, `the pages reported:\n  ${problems.join("\n  ")}`);
} catch (error) {
  failed = error;
} finally {
  await browser.close();
  server.close();
}
if (failed) {
  console.log("FAILED");
  console.error(failed.stack || String(failed));
  process.exit(1);
}
console.log("sso: all passed");
