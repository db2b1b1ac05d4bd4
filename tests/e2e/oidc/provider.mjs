// A real OpenID Connect provider (the certified `oidc-provider` package) for Authara's
// end-to-end tests. Configuration comes from the environment:
//
//   OIDC_PORT           port to listen on (127.0.0.1)
//   OIDC_CLIENT_ID      the one registered client
//   OIDC_CLIENT_SECRET  its secret (client_secret_basic)
//   OIDC_REDIRECT_URIS  comma-separated callback URLs registered for it
//
// The development interactions are the login screen: any login with any password signs in,
// and the login is both the subject and the email address (the same login is the same
// subject every time). A login starting with "unverified" has email_verified false. Consent
// is granted automatically (a first-party client). Prints one line
// "oidc-provider ready at <issuer>" once it listens.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number.parseInt(process.env.OIDC_PORT ?? '', 10);
const clientId = process.env.OIDC_CLIENT_ID;
const clientSecret = process.env.OIDC_CLIENT_SECRET;
const redirectUris = (process.env.OIDC_REDIRECT_URIS ?? '').split(',').filter(Boolean);
if (!port || !clientId || !clientSecret || redirectUris.length === 0) {
  console.error('provider.mjs: set OIDC_PORT, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET and OIDC_REDIRECT_URIS');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'e2e-1', use: 'sig', alg: 'RS256' };

async function findAccount(ctx, login) {
  return {
    accountId: login,
    async claims() {
      return {
        sub: login,
        email: login,
        email_verified: !login.startsWith('unverified'),
        name: login,
      };
    },
  };
}

async function loadExistingGrant(ctx) {
  const grantId = ctx.oidc.result?.consent?.grantId
    || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
  if (grantId) {
    return ctx.oidc.provider.Grant.find(grantId);
  }
  const grant = new ctx.oidc.provider.Grant({
    clientId: ctx.oidc.client.clientId,
    accountId: ctx.oidc.session.accountId,
  });
  grant.addOIDCScope('openid email profile');
  grant.addOIDCClaims(['email', 'email_verified', 'name']);
  await grant.save();
  return grant;
}

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  findAccount,
  loadExistingGrant,
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ready at ${issuer}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
