// The identity provider of dmls's tests: panva's oidc-provider with one
// public client (PKCE, loopback redirects, the device flow) and users whose
// ID tokens carry a groups claim. internal/oidctest starts it:
//
//   node provider.mjs CONFIG.json
//
// It listens on 127.0.0.1 on a free port and prints {"issuer": URL} as its
// first line on stdout. Its login page is oidc-provider's development
// login (any password; the login names the user of CONFIG.json).
import fs from 'node:fs';
import http from 'node:http';
import Provider from 'oidc-provider';

const conf = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: conf.clientID,
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      redirect_uris: conf.redirectURIs,
      post_logout_redirect_uris: conf.redirectURIs,
      grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
      response_types: ['code'],
    }],
    async findAccount(ctx, id) {
      const u = conf.users[id];
      if (!u) return undefined;
      return {
        accountId: id,
        async claims() {
          const c = { sub: u.sub || id, email: u.email, email_verified: true, name: u.name || id };
          if (u.groups !== null) c.groups = u.groups;
          return c;
        },
      };
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
    // The ID token carries the claims of the scopes, as Dex's does.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: true },
      deviceFlow: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    pkce: { required: () => true, methods: ['S256'] },
    ttl: { IdToken: conf.idTokenTTL || 600, AccessToken: 600, AuthorizationCode: 60, DeviceCode: 600, Session: 3600, Interaction: 600, Grant: 3600 },
    cookies: { keys: ['dmls-test-provider-only'] },
    // The console exchanges its code from the page: the token endpoint
    // answers cross-origin requests (a test provider allows every origin).
    clientBasedCORS: () => true,
  });
  server.on('request', provider.callback());
  process.stdout.write(JSON.stringify({ issuer }) + '\n');
});
process.on('SIGTERM', () => process.exit(0));
