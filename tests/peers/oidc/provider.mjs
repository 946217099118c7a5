// A local OpenID Provider for the tests: oidc-provider (npm, 9.x) on loopback standing in
// for Google (and later for the OAuth providers of the connectors).
//
//   node tests/peers/oidc/provider.mjs [--port N] [--clients JSON] [--access-token-ttl S]
//        [--refresh-token-ttl S] [--rotate-refresh-tokens] [--no-pkce-required]
//        [--exit-on-stdin-close]
//
// Each option can also come from the environment: OIDC_PORT, OIDC_CLIENTS,
// OIDC_ACCESS_TOKEN_TTL, OIDC_REFRESH_TOKEN_TTL, OIDC_ROTATE_REFRESH_TOKENS=1,
// OIDC_PKCE_REQUIRED=0. Port 0 (the default) picks a free port. Once listening it prints
// one JSON line on stdout, `{"issuer":"http://127.0.0.1:PORT","port":PORT}`; everything
// else (oidc-provider's notices included) goes to stderr.
//
// OIDC_CLIENTS is a JSON array of
//   {"client_id", "client_secret", "redirect_uris": [..], "token_endpoint_auth_method"?}
// Every client has the grant types authorization_code and refresh_token and may
// authenticate at the token endpoint with client_secret_basic or client_secret_post.
//
// The package is looked up in NODE_PATH (scripts/test installs it under target/ and sets
// SWITCHYARD_TEST_OIDC_NODE_PATH, which the Rust harness passes as NODE_PATH), then from
// this file's location.
//
// Sign-in uses oidc-provider's development interactions: a login form that accepts any
// login name and password, then a consent form. For login L: `sub` is the decimal value
// of the first 8 bytes of SHA-256(L) (opaque and stable, like Google's; made by
// oidc-provider's pairwise-identifier hook, the same for every client, so that ID tokens,
// userinfo and introspection agree, while the account id stays L), `email` is L,
// `email_verified` is true unless L contains "unverified", `name` is the part of L before
// any "@".
//
// Refresh tokens: issued when the granted scope has `offline_access`, which oidc-provider
// keeps in a request only together with `prompt=consent`; or, as at Google, when the
// request has `access_type=offline` (this script then adds `offline_access` to the scope).

import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

// oidc-provider prints its notices with console.info; stdout carries only the ready line.
console.info = (...args) => console.error(...args);

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const value = () => {
      i += 1;
      if (i >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[i];
    };
    switch (arg) {
      case '--port': out.port = value(); break;
      case '--clients': out.clients = value(); break;
      case '--access-token-ttl': out.accessTokenTtl = value(); break;
      case '--refresh-token-ttl': out.refreshTokenTtl = value(); break;
      case '--rotate-refresh-tokens': out.rotateRefreshTokens = true; break;
      case '--no-pkce-required': out.pkceRequired = false; break;
      case '--exit-on-stdin-close': out.exitOnStdinClose = true; break;
      default: throw new Error(`unknown argument ${arg}`);
    }
  }
  return out;
}

function seconds(name, raw, fallback) {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive whole number of seconds, got ${raw}`);
  return n;
}

async function loadOidcProvider() {
  const dirs = (process.env.NODE_PATH || '').split(path.delimiter).filter(Boolean);
  const require = createRequire(import.meta.url);
  for (const dir of dirs) {
    let resolved;
    try {
      resolved = require.resolve('oidc-provider', { paths: [dir, path.dirname(dir)] });
    } catch {
      continue;
    }
    return import(pathToFileURL(resolved).href);
  }
  try {
    return await import('oidc-provider');
  } catch (error) {
    throw new Error('oidc-provider not found: set NODE_PATH to the node_modules that scripts/test '
      + `installs it in (target/test-peers-oidc/node_modules): ${error.message}`);
  }
}

function subFor(login) {
  return createHash('sha256').update(login, 'utf8').digest().readBigUInt64BE(0).toString();
}

function clientsFrom(raw) {
  const list = JSON.parse(raw);
  if (!Array.isArray(list) || list.length === 0) throw new Error('the clients must be a non-empty JSON array');
  return list.map((c) => {
    if (!c.client_id || !c.client_secret || !Array.isArray(c.redirect_uris) || c.redirect_uris.length === 0) {
      throw new Error(`a client needs client_id, client_secret and redirect_uris: ${JSON.stringify(c)}`);
    }
    return {
      client_id: c.client_id,
      client_secret: c.client_secret,
      redirect_uris: c.redirect_uris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      // oidc-provider 9 accepts client_secret_post and client_secret_basic alike for a
      // client registered with either of them.
      token_endpoint_auth_method: c.token_endpoint_auth_method || 'client_secret_basic',
      // `sub` comes from pairwiseIdentifier below.
      subject_type: 'pairwise',
      id_token_signed_response_alg: 'RS256',
    };
  });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const env = process.env;
  const port = Number(args.port ?? env.OIDC_PORT ?? 0);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad port ${args.port ?? env.OIDC_PORT}`);
  const clientsRaw = args.clients ?? env.OIDC_CLIENTS;
  if (!clientsRaw) throw new Error('no clients: pass --clients JSON or set OIDC_CLIENTS');
  const clients = clientsFrom(clientsRaw);
  const accessTokenTtl = seconds('the access token TTL', args.accessTokenTtl ?? env.OIDC_ACCESS_TOKEN_TTL, 60);
  const refreshTokenTtl = seconds('the refresh token TTL', args.refreshTokenTtl ?? env.OIDC_REFRESH_TOKEN_TTL, 14 * 24 * 3600);
  const rotateRefreshTokens = args.rotateRefreshTokens ?? env.OIDC_ROTATE_REFRESH_TOKENS === '1';
  const pkceRequired = args.pkceRequired ?? env.OIDC_PKCE_REQUIRED !== '0';

  const { default: Provider, errors } = await loadOidcProvider();

  // The issuer names the port, so the socket is bound before the provider is made.
  const server = createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const issuer = `http://127.0.0.1:${server.address().port}`;

  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signingKey = {
    ...privateKey.export({ format: 'jwk' }),
    kid: randomBytes(8).toString('hex'),
    alg: 'RS256',
    use: 'sig',
  };

  const configuration = {
    clients,
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    responseTypes: ['code'],
    scopes: ['openid', 'offline_access', 'email', 'profile'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    // Google puts the scope's claims (email, email_verified) in the ID token of the code
    // flow too; oidc-provider's default keeps them for userinfo only.
    conformIdTokenClaims: false,
    subjectTypes: ['public', 'pairwise'],
    async pairwiseIdentifier(ctx, login) {
      return subFor(login);
    },
    async findAccount(ctx, login) {
      return {
        accountId: login,
        async claims() {
          return {
            sub: login,
            email: login,
            email_verified: !login.includes('unverified'),
            name: login.split('@')[0],
          };
        },
      };
    },
    extraParams: {
      // Google's way of asking for a refresh token. "offline" adds offline_access to the
      // requested scope (which the consent step then grants); "online" changes nothing.
      access_type(ctx, value, client) {
        if (value === undefined) return;
        if (value !== 'online' && value !== 'offline') {
          throw new errors.InvalidRequest("access_type must be 'online' or 'offline'");
        }
        if (value !== 'offline' || !client.grantTypeAllowed('refresh_token')) return;
        const scopes = new Set((ctx.oidc.params.scope || '').split(' ').filter(Boolean));
        if (!scopes.has('offline_access')) {
          scopes.add('offline_access');
          ctx.oidc.params.scope = [...scopes].join(' ');
        }
      },
      // Google's; accepted and ignored.
      include_granted_scopes: null,
    },
    pkce: { required: () => pkceRequired },
    rotateRefreshToken: () => rotateRefreshTokens,
    ttl: {
      AccessToken: accessTokenTtl,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 3600,
      Grant: refreshTokenTtl,
      RefreshToken: refreshTokenTtl,
      Session: 3600,
    },
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
    },
    enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
  };

  const provider = new Provider(issuer, configuration);
  provider.on('server_error', (ctx, error) => console.error('oidc-provider server_error', error));
  server.on('request', provider.callback());

  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (args.exitOnStdinClose) {
    process.stdin.on('end', () => process.exit(0));
    process.stdin.on('error', () => process.exit(0));
    process.stdin.resume();
  }

  process.stdout.write(`${JSON.stringify({ issuer, port: server.address().port })}\n`);
}

main().catch((error) => {
  console.error(`provider.mjs: ${error?.stack || error}`);
  process.exit(1);
});
