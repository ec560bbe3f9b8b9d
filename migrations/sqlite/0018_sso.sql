-- The OpenID provider (issue 17). Times are Unix milliseconds.

-- The ID-token signing keys. The private key is sealed (ChaCha20-Poly1305 under a key derived
-- from the service key, the kid as associated data); it never appears in an event or a log.
-- A retired key stays published until `published_until`, past the last token it signed.
CREATE TABLE signing_keys (
    kid             TEXT   PRIMARY KEY,
    alg             TEXT   NOT NULL,
    sealed_private  TEXT   NOT NULL,
    public_jwk      TEXT   NOT NULL,
    created_at      INTEGER NOT NULL,
    retired_at      INTEGER,
    published_until INTEGER
) STRICT;

-- Authorization requests waiting for a login or a consent: the continuation the login and
-- consent pages carry (`?sso=ID`). Swept when expired.
CREATE TABLE sso_requests (
    id           TEXT   PRIMARY KEY,
    client_id    TEXT   NOT NULL,
    params       TEXT   NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    consented_at INTEGER
) STRICT;

-- Authorization codes: the code's SHA-256 only; single use, bound to the client, the
-- redirect URI and the PKCE challenge.
CREATE TABLE sso_codes (
    code_hash      TEXT   PRIMARY KEY,
    client_id      TEXT   NOT NULL,
    account_id     TEXT   NOT NULL,
    redirect_uri   TEXT   NOT NULL,
    scopes         TEXT   NOT NULL,
    nonce          TEXT,
    code_challenge TEXT,
    auth_time      INTEGER NOT NULL,
    sid            TEXT   NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER
) STRICT;
CREATE INDEX sso_codes_sid_idx ON sso_codes (sid);

-- Access and refresh tokens: the token's SHA-256 only. A family is everything one code
-- issued; a refresh token presented twice revokes its family.
CREATE TABLE sso_tokens (
    token_hash TEXT   PRIMARY KEY,
    kind       TEXT   NOT NULL,
    family     TEXT   NOT NULL,
    client_id  TEXT   NOT NULL,
    account_id TEXT   NOT NULL,
    scopes     TEXT   NOT NULL,
    sid        TEXT   NOT NULL,
    auth_time  INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    revoked_at INTEGER
) STRICT;
CREATE INDEX sso_tokens_family_idx ON sso_tokens (family);
CREATE INDEX sso_tokens_account_idx ON sso_tokens (account_id);
