-- The OpenID provider (issue 17). Times are Unix milliseconds.

-- The ID-token signing keys. The private key is sealed (ChaCha20-Poly1305 under a key derived
-- from the service key, the kid as associated data); it never appears in an event or a log.
-- A retired key stays published until `published_until`, past the last token it signed.
CREATE TABLE signing_keys (
    kid             text   PRIMARY KEY,
    alg             text   NOT NULL,
    sealed_private  text   NOT NULL,
    public_jwk      text   NOT NULL,
    created_at      bigint NOT NULL,
    retired_at      bigint,
    published_until bigint
);

-- Authorization requests waiting for a login or a consent: the continuation the login and
-- consent pages carry (`?sso=ID`). Swept when expired.
CREATE TABLE sso_requests (
    id           text   PRIMARY KEY,
    client_id    text   NOT NULL,
    params       text   NOT NULL,
    created_at   bigint NOT NULL,
    expires_at   bigint NOT NULL,
    consented_at bigint
);

-- Authorization codes: the code's SHA-256 only; single use, bound to the client, the
-- redirect URI and the PKCE challenge.
CREATE TABLE sso_codes (
    code_hash      text   PRIMARY KEY,
    client_id      text   NOT NULL,
    account_id     text   NOT NULL,
    redirect_uri   text   NOT NULL,
    scopes         text   NOT NULL,
    nonce          text,
    code_challenge text,
    auth_time      bigint NOT NULL,
    sid            text   NOT NULL,
    created_at     bigint NOT NULL,
    expires_at     bigint NOT NULL,
    used_at        bigint
);
CREATE INDEX sso_codes_sid_idx ON sso_codes (sid);

-- Access and refresh tokens: the token's SHA-256 only. A family is everything one code
-- issued; a refresh token presented twice revokes its family.
CREATE TABLE sso_tokens (
    token_hash text   PRIMARY KEY,
    kind       text   NOT NULL,
    family     text   NOT NULL,
    client_id  text   NOT NULL,
    account_id text   NOT NULL,
    scopes     text   NOT NULL,
    sid        text   NOT NULL,
    auth_time  bigint NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    used_at    bigint,
    revoked_at bigint
);
CREATE INDEX sso_tokens_family_idx ON sso_tokens (family);
CREATE INDEX sso_tokens_account_idx ON sso_tokens (account_id);
