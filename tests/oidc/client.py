#!/usr/bin/env python3
"""An independent OpenID Connect relying party for xuexin's provider, built on authlib.

It shows that a stock client library, which has never seen xuexin's code, can use the provider
as an ordinary OpenID Connect Provider:

1. discovery: the provider document is served at {issuer}/.well-known/openid-configuration,
   names exactly this issuer, passes authlib's OpenID Provider Metadata validation, and
   advertises every endpoint used below;
2. authorization code flow with PKCE (S256), state and nonce, driven like a browser without
   JavaScript (redirects followed by hand, HTML forms filled and posted, cookies kept): the
   callback carries the same state and the right issuer (RFC 9207 `iss`);
3. the code is exchanged at the token endpoint with client_secret_basic; the ID token is
   RS256-signed by the JWKS key named by its `kid`, and its iss, aud, exp, iat, nonce and sub
   are right;
4. userinfo answers the bearer access token with the same `sub`;
5. refresh tokens rotate: the new access token works, a new refresh token is issued, the old
   one is refused with invalid_grant, and that reuse revokes the family (the new one is then
   refused too);
6. RP-initiated logout returns to post_logout_redirect_uri with the same state, and after it an
   authorization with prompt=none comes back with error=login_required.

Progress goes to stderr, one line per check; with success a JSON summary goes to stdout:
{"sub": ..., "claims": [...], "refreshed": true, "logged_out": true}. Any failure exits 1
with a message naming the step and what the server answered (status and a body excerpt).

usage: python3 tests/oidc/client.py --issuer URL --client-id ID --client-secret SECRET
         --redirect-uri URI --post-logout-redirect-uri URI --login LOGIN --password PW
         [--scope "openid profile phone email"] [--timeout SECONDS] [--verbose]

Needs authlib, joserfc, cryptography and requests (tests/oidc/requirements.txt).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import traceback
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Auth, OAuth2Session
from authlib.oidc import rpinitiated
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

#: How many redirects and form posts one browser journey may take before we give up.
MAX_HOPS = 20
#: Clock skew allowed when checking exp and iat, in seconds.
LEEWAY = 60
#: Body excerpts in error messages are cut to this many characters.
EXCERPT = 500

STEPS = {
    1: "discovery",
    2: "authorize",
    3: "token",
    4: "userinfo",
    5: "refresh",
    6: "logout",
}


class Failure(Exception):
    """A check failed; the message says what was expected and what the server answered."""


# --- small helpers ---------------------------------------------------------------------------


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def same_endpoint(url: str, target: str) -> bool:
    """Whether url goes to target (same scheme, host, port and path; the query may differ)."""
    a, b = urlsplit(url), urlsplit(target)
    return origin(url) == origin(target) and (a.path or "/") == (b.path or "/")


def query_params(url: str) -> dict[str, str]:
    """The query of a callback URL, one value per name (a repeated name is an error)."""
    params = parse_qs(urlsplit(url).query, keep_blank_values=True)
    repeated = [name for name, values in params.items() if len(values) > 1]
    if repeated:
        raise Failure(f"the callback repeats {', '.join(repeated)}: {redact(url)}")
    return {name: values[0] for name, values in params.items()}


def is_redirect(resp: requests.Response) -> bool:
    return resp.status_code in (301, 302, 303, 307, 308)


def is_html(resp: requests.Response) -> bool:
    return "text/html" in resp.headers.get("Content-Type", "").lower()


def is_json(resp: requests.Response) -> bool:
    ctype = resp.headers.get("Content-Type", "").lower()
    return "application/json" in ctype or "+json" in ctype


# --- what the server answered, for error messages ------------------------------------------


class _VisibleText(HTMLParser):
    """The text a person would read on an HTML page (no script, style or markup)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "head"):
            self._hidden += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden:
            self.parts.append(data)


def excerpt(resp: requests.Response) -> str:
    """The start of a response body, as readable text (an HTML page's visible text)."""
    body = resp.text or ""
    if is_html(resp):
        parser = _VisibleText()
        try:
            parser.feed(body)
            body = " ".join(parser.parts)
        except Exception:  # a broken page is still worth quoting raw
            pass
    elif is_json(resp):
        try:
            body = json.dumps(hide_tokens(resp.json()), ensure_ascii=False)
        except ValueError:
            pass
    body = " ".join(body.split())
    return body if len(body) <= EXCERPT else body[:EXCERPT] + "..."


def hide_tokens(body):
    """A JSON answer with its token values shortened, so logs do not carry live tokens."""
    if isinstance(body, dict):
        return {
            key: value[:6] + "..." if key in ("access_token", "refresh_token", "id_token") and isinstance(value, str) else value
            for key, value in body.items()
        }
    return body


def answer(resp: requests.Response | None) -> str:
    """One line saying what the server answered: status, request, Location, body excerpt."""
    if resp is None:
        return "no HTTP response was recorded"
    line = f"HTTP {resp.status_code} to {resp.request.method} {redact(resp.url)}"
    location = resp.headers.get("Location")
    if location:
        line += f" (Location: {redact(location)})"
    body = excerpt(resp)
    return f"{line}: {body}" if body else f"{line} (empty body)"


def redact(url: str) -> str:
    """A URL fit for a log: the values of code and id_token_hint are shortened."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    shown = []
    for pair in parts.query.split("&"):
        name, equals, value = pair.partition("=")
        if name in ("code", "id_token_hint") and len(value) > 12:
            value = value[:8] + "..."
        shown.append(name + equals + value)
    return parts._replace(query="&".join(shown)).geturl()


# --- HTML forms, read with the standard library ---------------------------------------------


@dataclass
class Form:
    """One <form>: where it goes, and the controls a browser would send."""

    action: str
    method: str
    in_main: bool
    #: successful controls other than submit buttons, in document order
    fields: list[tuple[str, str]] = field(default_factory=list)
    #: name -> input type, for the named controls
    types: dict[str, str] = field(default_factory=dict)
    #: named submit buttons (name, value); only the one "clicked" is sent
    submits: list[tuple[str, str]] = field(default_factory=list)

    @property
    def asks_password(self) -> bool:
        return "password" in self.types.values() or "password" in self.types

    @property
    def asks_decision(self) -> bool:
        return any(name == "decision" for name, _ in self.submits)

    def describe(self) -> str:
        names = [name for name, _ in self.fields] + [f"{n}={v}" for n, v in self.submits]
        return f"<form method={self.method} action={self.action!r}> with {', '.join(names) or 'no named controls'}"


class _FormParser(HTMLParser):
    """Collects every <form> of a page with its inputs and buttons (textarea/select ignored)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._main = 0

    def handle_starttag(self, tag, attrs):
        a = {name: (value if value is not None else "") for name, value in attrs}
        if tag == "main":
            self._main += 1
        elif tag == "form":
            self._form = Form(
                action=a.get("action", ""),
                method=(a.get("method") or "get").lower(),
                in_main=self._main > 0,
            )
            self.forms.append(self._form)
        elif self._form is None or "disabled" in a:
            return
        elif tag == "input":
            self._input(a)
        elif tag == "button":
            if (a.get("type") or "submit").lower() == "submit" and a.get("name"):
                self._form.submits.append((a["name"], a.get("value", "")))

    def _input(self, a: dict[str, str]) -> None:
        kind = (a.get("type") or "text").lower()
        name = a.get("name")
        if not name:
            return
        if kind in ("submit", "image"):
            self._form.submits.append((name, a.get("value", "")))
        elif kind in ("button", "reset", "file"):
            return
        elif kind in ("checkbox", "radio"):
            if "checked" in a:
                self._form.fields.append((name, a.get("value") or "on"))
                self._form.types[name] = kind
        else:
            self._form.fields.append((name, a.get("value", "")))
            self._form.types[name] = kind

    def handle_endtag(self, tag):
        if tag == "main" and self._main:
            self._main -= 1
        elif tag == "form":
            self._form = None


def pick_form(html: str) -> Form | None:
    """The form the journey is about.

    The contract says "take the first form", but a signed-in page of xuexin carries the
    header's sign-out form (POST /logout) before the page's own form, so we prefer, in
    order: the consent form (a submit named `decision`), the sign-in form (a password
    input), the first form inside <main>, and only then the first form of the page.
    """
    parser = _FormParser()
    parser.feed(html)
    parser.close()
    forms = parser.forms
    for wanted in (
        lambda f: f.asks_decision,
        lambda f: f.asks_password,
        lambda f: f.in_main,
        lambda f: True,
    ):
        for form in forms:
            if wanted(form):
                return form
    return None


# --- the relying party -----------------------------------------------------------------------


class RelyingParty:
    def __init__(self, args: argparse.Namespace) -> None:
        self.issuer: str = args.issuer
        self.client_id: str = args.client_id
        self.redirect_uri: str = args.redirect_uri
        self.post_logout_redirect_uri: str = args.post_logout_redirect_uri
        self.login: str = args.login
        self.password: str = args.password
        self.scope: str = args.scope
        self.timeout: float = args.timeout
        self.verbose: bool = args.verbose
        self.step = "setup"

        # The browser: cookies kept across the whole run, redirects followed by hand.
        self.browser = requests.Session()
        self.browser.headers.update({"Accept-Language": "en", "User-Agent": "xuexin-oidc-rp-test"})
        # Back-channel calls that are not OAuth client calls (discovery, JWKS, userinfo).
        self.api = requests.Session()
        self.api.headers.update({"Accept": "application/json", "User-Agent": "xuexin-oidc-rp-test"})
        # The OAuth client proper: authlib builds the authorization URLs and talks to the
        # token endpoint, authenticating with client_secret_basic.
        self.oauth = OAuth2Session(
            client_id=args.client_id,
            client_secret=args.client_secret,
            token_endpoint_auth_method="client_secret_basic",
            redirect_uri=args.redirect_uri,
            code_challenge_method="S256",
            default_timeout=args.timeout,
        )
        # authlib raises on an error answer without keeping the response; keep the last
        # token endpoint response ourselves so a failure can quote it.
        self.last_token_response: requests.Response | None = None
        for hook in ("access_token_response", "refresh_token_response"):
            self.oauth.register_compliance_hook(hook, self._remember)

        self.meta: dict = {}
        self.jwks: dict | None = None
        self.state: str | None = None  # of the first authorization, for authlib's own check

    def _remember(self, resp: requests.Response) -> requests.Response:
        self.last_token_response = resp
        return resp

    # --- reporting ---

    def begin(self, number: int) -> None:
        self.step = f"{number}/6 {STEPS[number]}"

    def log(self, message: str) -> None:
        print(f"[{self.step}] {message}", file=sys.stderr, flush=True)

    def detail(self, message: str) -> None:
        if self.verbose:
            print(f"[{self.step}]   {message}", file=sys.stderr, flush=True)

    # --- plumbing ---

    def get_json(self, what: str, url: str) -> dict:
        resp = self.api.get(url, timeout=self.timeout)
        if resp.status_code != 200:
            raise Failure(f"{what}: expected 200, got {answer(resp)}")
        try:
            body = resp.json()
        except ValueError:
            raise Failure(f"{what}: the body is not JSON: {answer(resp)}") from None
        if not isinstance(body, dict):
            raise Failure(f"{what}: the body is not a JSON object: {answer(resp)}")
        return body

    def token_call(self, what: str, call):
        """Run an authlib token endpoint call, turning its errors into a readable Failure."""
        self.last_token_response = None
        try:
            return call()
        except AuthlibBaseError as error:
            reason = f"{error.error}: {error.description}" if error.description else error.error
            raise Failure(f"{what} refused ({reason}) -- {answer(self.last_token_response)}") from None
        except (requests.HTTPError, ValueError) as error:
            raise Failure(f"{what} failed ({error}) -- {answer(self.last_token_response)}") from None

    def new_authorization(self, **extra) -> tuple[str, str, str, str]:
        """A fresh authorization request: (url, state, nonce, code_verifier)."""
        state = generate_token(32)
        nonce = generate_token(32)
        verifier = generate_token(64)  # RFC 7636: 43 to 128 unreserved characters
        url, _ = self.oauth.create_authorization_url(
            self.meta["authorization_endpoint"],
            state=state,
            code_verifier=verifier,
            nonce=nonce,
            scope=self.scope,
            **extra,
        )
        sent = query_params(url)
        if sent.get("code_challenge_method") != "S256" or not sent.get("code_challenge"):
            raise Failure(f"authlib built an authorization URL without PKCE S256: {url}")
        return url, state, nonce, verifier

    # --- the browser part ---

    def drive(
        self,
        resp: requests.Response,
        target: str,
        what: str,
        forms: bool = True,
        credentials: bool = True,
    ) -> str:
        """Follow a browser journey from resp until a redirect to target; return that URL.

        Redirects are followed by hand (303/302/301 as GET, 307/308 repeating the request).
        An HTML page is answered by posting its form: hidden and prefilled controls are
        kept, `login` and `password` are filled in, and on a consent form `decision=allow`
        is the button pressed. With forms=False any page is a failure (prompt=none); with
        credentials=False a sign-in form is a failure (logout must not ask to sign in).
        """
        trail: list[str] = []
        logins = consents = 0

        def fail(message: str) -> Failure:
            path = " -> ".join(trail) if trail else "(first response)"
            return Failure(f"{what}: {message}\n  path so far: {path}\n  last answer: {answer(resp)}")

        for _ in range(MAX_HOPS):
            here = f"{resp.status_code} {resp.request.method} {urlsplit(resp.url).path}"
            trail.append(here)
            self.detail(here)

            if is_redirect(resp):
                location = resp.headers.get("Location")
                if not location:
                    raise fail(f"HTTP {resp.status_code} without a Location header")
                url = urljoin(resp.url, location)
                if same_endpoint(url, target):
                    self.detail(f"-> {redact(url)}")
                    return url
                if origin(url) != origin(self.issuer):
                    raise fail(f"redirected away from the provider to {redact(url)}, expected {target}")
                if resp.status_code in (307, 308):
                    request = resp.request
                    resp = self.browser.request(
                        request.method,
                        url,
                        data=request.body,
                        headers={"Content-Type": request.headers.get("Content-Type", "")},
                        allow_redirects=False,
                        timeout=self.timeout,
                    )
                else:
                    resp = self.browser.get(url, allow_redirects=False, timeout=self.timeout)
                continue

            if resp.status_code == 200 and is_html(resp):
                if not forms:
                    raise fail(f"expected a redirect to {target}, but the provider showed a page")
                form = pick_form(resp.text)
                if form is None:
                    raise fail("an HTML page without a form, and no redirect")
                data = list(form.fields)
                if form.asks_password:
                    if not credentials:
                        raise fail("the provider asked to sign in, which this step must not need")
                    logins += 1
                    if logins > 1:
                        raise fail("the sign-in form came back after posting the credentials (refused?)")
                    if "login" not in form.types:
                        raise fail(f"the sign-in form has no `login` field: {form.describe()}")
                    data = [(name, self.fill(form, name, value)) for name, value in data]
                if form.asks_decision:
                    consents += 1
                    if consents > 1:
                        raise fail("the consent form came back after choosing allow")
                    if ("decision", "allow") not in form.submits:
                        raise fail(f"the consent form has no decision=allow button: {form.describe()}")
                    data.append(("decision", "allow"))
                elif form.submits:
                    data.append(form.submits[0])
                action = urljoin(resp.url, form.action or resp.url)
                if origin(action) != origin(self.issuer):
                    raise fail(f"the form posts away from the provider, to {action}")
                self.detail(f"form {form.method.upper()} {urlsplit(action).path}: {', '.join(n for n, _ in data)}")
                if form.method == "post":
                    resp = self.browser.post(action, data=data, allow_redirects=False, timeout=self.timeout)
                else:
                    resp = self.browser.get(action, params=data, allow_redirects=False, timeout=self.timeout)
                continue

            raise fail(f"expected a redirect or an HTML form, got HTTP {resp.status_code}")
        raise fail(f"no redirect to {target} after {MAX_HOPS} hops")

    def fill(self, form: Form, name: str, value: str) -> str:
        """The value to send for one control of the sign-in form."""
        if name == "login":
            return self.login
        if form.types.get(name) == "password":
            return self.password
        return value

    def callback(self, url: str, state: str, what: str) -> dict[str, str]:
        """The parameters of a redirect back to us, after checking state and iss."""
        params = query_params(url)
        if params.get("state") != state:
            raise Failure(f"{what}: state {params.get('state')!r} came back, we sent {state!r}: {redact(url)}")
        iss = params.get("iss")
        if iss is None and self.meta.get("authorization_response_iss_parameter_supported"):
            raise Failure(f"{what}: no `iss` although discovery promises it (RFC 9207): {redact(url)}")
        if iss is not None and iss != self.issuer:
            raise Failure(f"{what}: iss {iss!r} is not the issuer {self.issuer!r}")
        return params

    # --- the ID token ---

    def signing_key(self, kid: str) -> RSAKey:
        """The JWKS key named kid (the JWKS is fetched again once if kid is unknown)."""
        for attempt in range(2):
            if self.jwks is None or attempt == 1:
                self.jwks = self.get_json("JWKS", self.meta["jwks_uri"])
                keys = self.jwks.get("keys")
                if not isinstance(keys, list) or not keys:
                    raise Failure(f"the JWKS at {self.meta['jwks_uri']} has no keys: {self.jwks}")
            for key in self.jwks["keys"]:
                if isinstance(key, dict) and key.get("kid") == kid:
                    if key.get("kty") != "RSA":
                        raise Failure(f"JWKS key {kid!r} is {key.get('kty')!r}, not RSA")
                    if key.get("use", "sig") != "sig" or key.get("alg", "RS256") != "RS256":
                        raise Failure(f"JWKS key {kid!r} is not an RS256 signing key: use={key.get('use')} alg={key.get('alg')}")
                    if any(private in key for private in ("d", "p", "q", "dp", "dq", "qi")):
                        raise Failure(f"JWKS key {kid!r} publishes private key material")
                    try:
                        return RSAKey.import_key(key)
                    except (JoseError, ValueError) as error:
                        raise Failure(f"JWKS key {kid!r} does not import: {error}") from None
        kids = [k.get("kid") for k in self.jwks["keys"] if isinstance(k, dict)]
        raise Failure(f"no JWKS key has kid {kid!r} (the JWKS has {kids})")

    def validate_id_token(
        self,
        id_token: str,
        what: str,
        nonce: str,
        nonce_required: bool = True,
        access_token: str | None = None,
        sub: str | None = None,
    ) -> dict:
        """Check signature and claims of an ID token (OIDC Core 3.1.3.7); return its claims."""
        parts = id_token.split(".") if isinstance(id_token, str) else []
        if len(parts) != 3:
            raise Failure(f"{what} is not a compact JWS (three dot-separated parts)")
        try:
            header = json.loads(b64url_decode(parts[0]))
        except ValueError:
            raise Failure(f"{what} has an unreadable header") from None
        if header.get("alg") != "RS256":
            raise Failure(f"{what} is signed with {header.get('alg')!r}, expected RS256")
        kid = header.get("kid")
        if not kid:
            raise Failure(f"{what} header has no kid: {header}")
        key = self.signing_key(kid)
        try:
            claims = jwt.decode(id_token, key, algorithms=["RS256"]).claims
        except JoseError as error:
            raise Failure(f"{what} signature does not verify with JWKS key {kid!r}: {error}") from None

        options = {
            "iss": {"essential": True, "value": self.issuer},
            "aud": {"essential": True, "value": self.client_id},
            "sub": {"essential": True},
            "exp": {"essential": True},
            "iat": {"essential": True},
            "nonce": {"essential": nonce_required, "value": nonce},
        }
        try:
            jwt.JWTClaimsRegistry(leeway=LEEWAY, **options).validate(claims)
        except JoseError as error:
            shown = {k: claims.get(k) for k in ("iss", "aud", "exp", "iat", "sub", "azp")}
            shown["nonce matches"] = claims.get("nonce") == nonce
            raise Failure(f"{what} claims rejected ({error}); expected iss={self.issuer!r} aud~{self.client_id!r}; got {shown}") from None

        aud = claims["aud"]
        if isinstance(aud, list) and len(aud) > 1 and "azp" not in claims:
            raise Failure(f"{what} has several audiences {aud} but no azp")
        if "azp" in claims and claims["azp"] != self.client_id:
            raise Failure(f"{what} azp is {claims['azp']!r}, not our client id")
        if access_token and "at_hash" in claims:
            digest = hashlib.sha256(access_token.encode("ascii")).digest()
            expected = base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
            if claims["at_hash"] != expected:
                raise Failure(f"{what} at_hash does not match the access token")
        if sub is not None and claims["sub"] != sub:
            raise Failure(f"{what} sub {claims['sub']!r} differs from the first ID token's {sub!r}")
        return claims

    def userinfo(self, access_token: str, what: str) -> dict:
        resp = self.api.get(
            self.meta["userinfo_endpoint"],
            auth=OAuth2Auth({"access_token": access_token, "token_type": "Bearer"}),
            timeout=self.timeout,
        )
        if resp.status_code != 200:
            raise Failure(f"{what}: expected 200, got {answer(resp)}")
        if not is_json(resp):
            raise Failure(f"{what}: expected JSON, got Content-Type {resp.headers.get('Content-Type')!r}: {answer(resp)}")
        try:
            info = resp.json()
        except ValueError:
            raise Failure(f"{what}: the body is not JSON: {answer(resp)}") from None
        if not isinstance(info, dict) or not info.get("sub"):
            raise Failure(f"{what}: no sub in the answer: {answer(resp)}")
        return info

    def expect_refused(self, refresh_token: str, what: str) -> None:
        """Present refresh_token and require invalid_grant (HTTP 400)."""
        self.last_token_response = None
        try:
            self.oauth.refresh_token(self.meta["token_endpoint"], refresh_token=refresh_token)
        except AuthlibBaseError as error:
            status = self.last_token_response.status_code if self.last_token_response is not None else None
            if error.error == "invalid_grant" and status == 400:
                self.log(f"{what}: refused with invalid_grant, as it must be")
                return
            raise Failure(f"{what}: expected HTTP 400 invalid_grant, got {error.error} -- {answer(self.last_token_response)}") from None
        except (requests.HTTPError, ValueError) as error:
            raise Failure(f"{what}: expected HTTP 400 invalid_grant, got ({error}) -- {answer(self.last_token_response)}") from None
        raise Failure(f"{what}: it was accepted and new tokens were issued -- {answer(self.last_token_response)}")

    # --- the six steps ---

    def discovery(self) -> None:
        self.begin(1)
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        meta = self.get_json("discovery", url)
        if meta.get("issuer") != self.issuer:
            raise Failure(f"discovery names issuer {meta.get('issuer')!r}, expected exactly {self.issuer!r}")
        try:
            OpenIDProviderMetadata(meta).validate(metadata_classes=[rpinitiated.OpenIDProviderMetadata])
        except ValueError as error:
            raise Failure(f"authlib rejects the provider metadata: {error}") from None
        needed = ["authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "end_session_endpoint"]
        missing = [name for name in needed if not meta.get(name)]
        if missing:
            raise Failure(f"discovery lacks {', '.join(missing)}")

        # What we are about to use must not be excluded by what the provider advertises.
        def advertised(name: str, value: str) -> None:
            if name in meta and value not in meta[name]:
                raise Failure(f"discovery {name} = {meta[name]} does not include {value!r}")

        advertised("response_types_supported", "code")
        advertised("code_challenge_methods_supported", "S256")
        advertised("token_endpoint_auth_methods_supported", "client_secret_basic")
        advertised("grant_types_supported", "authorization_code")
        advertised("grant_types_supported", "refresh_token")
        for scope in self.scope.split():
            advertised("scopes_supported", scope)
        self.meta = meta
        self.log(f"ok: issuer {self.issuer}; endpoints " + ", ".join(f"{n}={urlsplit(meta[n]).path}" for n in needed))

    def authorize(self) -> tuple[str, str, str]:
        """The signed-out browser's first authorization; returns (callback URL, nonce, verifier)."""
        self.begin(2)
        url, state, nonce, verifier = self.new_authorization()
        resp = self.browser.get(url, allow_redirects=False, timeout=self.timeout)
        callback = self.drive(resp, self.redirect_uri, "authorization (sign in and consent)")
        params = self.callback(callback, state, "authorization")
        if "error" in params:
            raise Failure(f"authorization came back with error={params['error']}: {params.get('error_description', '')}")
        if not params.get("code"):
            raise Failure(f"authorization came back without a code: {redact(callback)}")
        self.state = state
        self.log(f"ok: signed in as {self.login!r}, consented, code received (state matches, iss {'matches' if 'iss' in params else 'absent'})")
        return callback, nonce, verifier

    def exchange(self, callback: str, nonce: str, verifier: str) -> tuple[dict, dict]:
        self.begin(3)
        token = self.token_call(
            "the authorization code exchange",
            lambda: self.oauth.fetch_token(
                self.meta["token_endpoint"],
                grant_type="authorization_code",
                authorization_response=callback,
                state=self.state,
                code_verifier=verifier,
            ),
        )
        missing = [name for name in ("access_token", "id_token", "refresh_token", "token_type") if not token.get(name)]
        if missing:
            raise Failure(f"the token response lacks {', '.join(missing)}: keys {sorted(token)}")
        if token["token_type"].lower() != "bearer":
            raise Failure(f"token_type is {token['token_type']!r}, expected Bearer")
        claims = self.validate_id_token(token["id_token"], "the ID token", nonce, access_token=token["access_token"])
        extra = [name for name in ("auth_time", "sid", "azp") if name in claims]
        self.log(f"ok: tokens issued; ID token RS256 verified, sub {claims['sub']}, also carries {', '.join(extra) or 'none of auth_time/sid/azp'}")
        return dict(token), claims

    def check_userinfo(self, token: dict, id_claims: dict) -> dict:
        self.begin(4)
        info = self.userinfo(token["access_token"], "userinfo")
        if info["sub"] != id_claims["sub"]:
            raise Failure(f"userinfo sub {info['sub']!r} differs from the ID token's {id_claims['sub']!r}")
        self.log(f"ok: same sub; claims returned: {', '.join(sorted(info))}")
        return info

    def refresh(self, token: dict, id_claims: dict, nonce: str) -> None:
        self.begin(5)
        old = token["refresh_token"]
        new = self.token_call(
            "the refresh",
            lambda: self.oauth.refresh_token(self.meta["token_endpoint"], refresh_token=old),
        )
        # authlib copies the old refresh token into the result when none is returned.
        if not new.get("refresh_token") or new["refresh_token"] == old:
            raise Failure("the refresh did not issue a new refresh token (rotation expected)")
        if not new.get("access_token") or new["access_token"] == token["access_token"]:
            raise Failure("the refresh did not issue a new access token")
        if new.get("id_token"):
            self.validate_id_token(
                new["id_token"], "the refreshed ID token", nonce, nonce_required=False,
                access_token=new["access_token"], sub=id_claims["sub"],
            )
        info = self.userinfo(new["access_token"], "userinfo with the refreshed access token")
        if info["sub"] != id_claims["sub"]:
            raise Failure(f"userinfo after refresh names sub {info['sub']!r}, expected {id_claims['sub']!r}")
        self.log("ok: rotated; new access token works at userinfo, new refresh token issued")

        self.expect_refused(old, "the old (rotated) refresh token presented again")
        self.expect_refused(new["refresh_token"], "the new refresh token after the reuse (family revoked)")

    def logout(self, token: dict) -> None:
        self.begin(6)
        # Control: while signed in (and consented) prompt=none must succeed, so the
        # login_required after logout below is the logout's doing.
        url, state, _, _ = self.new_authorization(prompt="none")
        resp = self.browser.get(url, allow_redirects=False, timeout=self.timeout)
        callback = self.drive(resp, self.redirect_uri, "prompt=none while signed in", forms=False)
        params = self.callback(callback, state, "prompt=none while signed in")
        if "error" in params or not params.get("code"):
            hint = ""
            if params.get("error") == "login_required":
                hint = " (the browser session is gone before the logout: did the refresh token reuse in step 5 end it too?)"
            raise Failure(
                "prompt=none while signed in should return a code, got "
                f"error={params.get('error')!r} {params.get('error_description', '')}{hint}"
            )
        self.log("ok: prompt=none while signed in returns a code (control)")

        logout_state = generate_token(32)
        resp = self.browser.get(
            self.meta["end_session_endpoint"],
            params={
                "id_token_hint": token["id_token"],
                "post_logout_redirect_uri": self.post_logout_redirect_uri,
                "state": logout_state,
                "client_id": self.client_id,
            },
            allow_redirects=False,
            timeout=self.timeout,
        )
        back = self.drive(resp, self.post_logout_redirect_uri, "RP-initiated logout", credentials=False)
        params = query_params(back)
        if params.get("state") != logout_state:
            raise Failure(f"logout returned state {params.get('state')!r}, we sent {logout_state!r}: {redact(back)}")
        self.log("ok: logout returned to post_logout_redirect_uri with our state")

        url, state, _, _ = self.new_authorization(prompt="none")
        resp = self.browser.get(url, allow_redirects=False, timeout=self.timeout)
        callback = self.drive(resp, self.redirect_uri, "prompt=none after logout", forms=False)
        params = self.callback(callback, state, "prompt=none after logout")
        if params.get("error") != "login_required":
            got = f"error={params['error']!r}" if "error" in params else "a code" if "code" in params else redact(callback)
            raise Failure(f"prompt=none after logout should return error=login_required, got {got}")
        self.log("ok: prompt=none after logout returns error=login_required")

    def run(self) -> dict:
        self.discovery()
        callback, nonce, verifier = self.authorize()
        token, id_claims = self.exchange(callback, nonce, verifier)
        info = self.check_userinfo(token, id_claims)
        self.refresh(token, id_claims, nonce)
        self.logout(token)
        return {
            "sub": id_claims["sub"],
            "claims": sorted(info),
            "refreshed": True,
            "logged_out": True,
        }


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Drive xuexin's OpenID provider as an independent relying party (authlib) "
        "through discovery, code+PKCE, ID token validation, userinfo, refresh rotation and logout.",
    )
    parser.add_argument("--issuer", required=True, help="the issuer URL, exactly as discovery must name it")
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True, help="sent with client_secret_basic")
    parser.add_argument("--redirect-uri", required=True, help="a registered redirect URI (never contacted)")
    parser.add_argument("--post-logout-redirect-uri", required=True, help="a registered post-logout URI (never contacted)")
    parser.add_argument("--login", required=True, help="phone, e-mail or ID number of a test account")
    parser.add_argument("--password", required=True)
    parser.add_argument("--scope", default="openid profile phone email", help='default: "%(default)s"')
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds per HTTP request (default %(default)s)")
    parser.add_argument("--verbose", "-v", action="store_true", help="also print every redirect and form post")
    args = parser.parse_args(argv)
    if "openid" not in args.scope.split():
        parser.error("--scope must include openid")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    rp = RelyingParty(args)
    try:
        summary = rp.run()
    except Failure as failure:
        print(f"[{rp.step}] FAILED: {failure}", file=sys.stderr, flush=True)
        return 1
    except requests.RequestException as error:
        print(f"[{rp.step}] FAILED: HTTP request failed: {error}", file=sys.stderr, flush=True)
        return 1
    except Exception as error:  # a bug here or a shape we did not expect: show where
        traceback.print_exc()
        print(f"[{rp.step}] FAILED: unexpected {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
