package secrets

import (
	"strings"
	"testing"
)

// Issue 8, section 3: every class of secret literal is found, and values
// that merely sit under a secret-sounding name, or look a little random,
// are not.
func TestLiteral(t *testing.T) {
	tests := []struct {
		name, key, value string
		want             string // the Kind, or "" for no finding
	}{
		// AWS access key IDs, by prefix.
		{"aws AKIA", "AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE", "an AWS access key ID"},
		{"aws ASIA temporary", "X", "ASIAY34FZKBOKMUTVV7A", "an AWS access key ID"},
		{"aws AKIA under a plain name", "ANYTHING", "AKIAZZZZZZZZZZZZZZZZ", "an AWS access key ID"},
		{"aws AKIA in a flag", "", "--aws-key=AKIAIOSFODNN7EXAMPLE", "an AWS access key ID"},
		{"aws AKIA too short", "X", "AKIAIOSFODNN7EXAMPL", ""},
		{"aws AKIA lower case", "X", "akiaiosfodnn7example", ""},
		// AWS secret access keys.
		{"aws secret key", "AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "an AWS secret access key"},
		{"aws secret key plain name", "CONFIG", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "an AWS secret access key"},
		{"git sha is not an aws key", "REVISION", "4b825dc642cb6eb9a060e54bf8d69288fbee4904", ""},
		{"40 upper letters", "X", strings.Repeat("ABCDEFGHIJ", 4), ""},
		// GitHub.
		{"github ghp", "GITHUB_TOKEN", "ghp_" + strings.Repeat("aB3dE6gH9j", 3) + "kLmN0p", "a GitHub token"},
		{"github gho", "X", "gho_16C7e42F292c6912E7710c838347Ae178B4a", "a GitHub token"},
		{"github ghs", "X", "ghs_16C7e42F292c6912E7710c838347Ae178B4a", "a GitHub token"},
		{"github fine-grained", "X", "github_pat_11ABCDEFG0123456789abc_" + strings.Repeat("x1Y2z3", 10), "a GitHub token"},
		{"github in a header", "AUTH_HEADER", "token ghp_16C7e42F292c6912E7710c838347Ae178B4a", "a GitHub token"},
		{"ghp prefix alone", "X", "ghp_short", ""},
		// GitLab.
		{"gitlab pat", "GITLAB_TOKEN", "glpat-xT4gZbq9Lm2Np7Rs5Vw1", "a GitLab token"},
		{"gitlab runner", "X", "glrt-2CR8_eVxiioB1QmzPZwa", "a GitLab token"},
		{"glpat too short", "X", "glpat-abc", ""},
		// Slack.
		{"slack bot", "SLACK", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "a Slack token"},
		{"slack user", "X", "xoxp-123456789012-123456789012-123456789012-abcdef0123456789", "a Slack token"},
		{"slack webhook", "HOOK", "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX", "a Slack webhook URL"},
		{"xoxo is not slack", "GREETING", "xoxo-hugs", ""},
		// Private keys.
		{"rsa key", "TLS", "-----BEGIN RSA PRIVATE KEY-----\nMIIEow...\n-----END RSA PRIVATE KEY-----", "a private key block"},
		{"pkcs8 key", "X", "-----BEGIN PRIVATE KEY-----\nMIIE", "a private key block"},
		{"openssh key", "X", "-----BEGIN OPENSSH PRIVATE KEY-----", "a private key block"},
		{"ec key", "X", "-----BEGIN EC PRIVATE KEY-----", "a private key block"},
		{"pgp key", "X", "-----BEGIN PGP PRIVATE KEY BLOCK-----", "a private key block"},
		{"public key is fine", "X", "-----BEGIN PUBLIC KEY-----\nMIIBIjAN", ""},
		{"certificate is fine", "CA", "-----BEGIN CERTIFICATE-----\nMIID", ""},
		// JWTs.
		{"jwt", "X", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "a JSON Web Token"},
		{"bearer jwt", "AUTHORIZATION", "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "a JSON Web Token"},
		{"eyJ alone", "X", "eyJhbGciOiJIUzI1NiJ9", ""},
		// Credentials in URLs.
		{"db url with password", "DATABASE_URL", "postgres://ml:s3cr3t@db.internal:5432/ml", "credentials in a URL"},
		{"url without password", "DATABASE_URL", "postgres://db.internal:5432/ml", ""},
		{"url with user only", "REPO", "https://user@git.example.com/x.git", ""},
		// High entropy under secret names.
		{"db password", "DB_PASSWORD", "Xk9#mQ2$vL7p", "a high-entropy value under a secret's name"},
		{"short password", "DB_PASSWORD", "hunter2", "a high-entropy value under a secret's name"},
		{"word password", "ADMIN_PASSWORD", "changeme", "a high-entropy value under a secret's name"},
		{"camel case", "dbPassword", "Xk9mQ2vL7p", "a high-entropy value under a secret's name"},
		{"hyperparameter", "api_token", "f3a9c1d7e2b8", "a high-entropy value under a secret's name"},
		{"client secret", "OAUTH_CLIENT_SECRET", "9f8e7d6c5b4a3f2e1d0c", "a high-entropy value under a secret's name"},
		{"api key", "WANDB_API_KEY", "0123456789abcdef0123456789abcdef01234567", "a high-entropy value under a secret's name"},
		{"random under _KEY", "ENCRYPTION_KEY", "q8Zr2LmX0vB7nW4tK1sY6dF3", "a high-entropy value under a key's name"},
		{"flag pair value", "password", "Xk9mQ2vL7p", "a high-entropy value under a secret's name"},
		// Entropy edge cases.
		{"repeated char", "DB_PASSWORD", "aaaaaaaaaaaaaaaa", ""},
		{"two chars alternating", "SECRET", "abababababab", ""},
		{"five chars", "TOKEN", "ab3D9", ""},
		{"low entropy under _KEY", "SORT_KEY", "timestamp", ""},
		{"word under _KEY", "MODEL_KEY", "resnet50", ""},
		{"16 chars under _KEY below 3.5 bits", "CACHE_KEY", "aabbccddeeffgghh", ""},
		// False positives that must not fire.
		{"log level", "LOG_LEVEL", "debug", ""},
		{"model key name", "MODEL_KEY_NAME", "resnet", ""},
		{"password file", "DB_PASSWORD_FILE", "/var/run/secrets/db/password", ""},
		{"token path", "TOKEN_PATH", "/var/run/secrets/kubernetes.io/serviceaccount/token", ""},
		{"secret name", "SECRET_NAME", "fashion-mnist-db", ""},
		{"token ttl", "TOKEN_TTL", "3600", ""},
		{"secret arn", "DB_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf", ""},
		{"tokenizer", "TOKENIZER", "bert-base-uncased", ""},
		{"max tokens", "MAX_TOKENS", "4096", ""},
		{"placeholder", "GITHUB_TOKEN", "${GITHUB_TOKEN}", ""},
		{"k8s dependent var", "DB_PASSWORD", "$(DB_PASSWORD_FROM_SECRET)", ""},
		{"angle placeholder", "API_TOKEN", "<set-me>", ""},
		{"boolean", "USE_TOKEN", "true", ""},
		{"empty", "DB_PASSWORD", "", ""},
		{"url under token", "TOKEN_URL", "https://auth.example.com/token", ""},
		{"secret url value", "SECRET", "https://vault.example.com/v1/secret/data/ml", ""},
		{"model path", "MODEL_DIR", "/trained_model/saved_model_versions/2/", ""},
		{"image", "IMAGE", "registry.example.com/team/serve:1.4.2", ""},
		{"uuid under plain name", "RUN_ID", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", ""},
		{"sentence under secret name", "SECRET_HINT", "ask the platform team", ""},
		{"public key id", "KEY_ID", "AbCdEf0123456789", ""},
		{"hp learning rate", "learning_rate", "0.001", ""},
		{"duration", "TOKEN_REFRESH", "30s", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, ok := Literal(tt.key, tt.value)
			if tt.want == "" {
				if ok {
					t.Fatalf("Literal(%q, %q) = %q, want no finding", tt.key, tt.value, f.Kind)
				}
				return
			}
			if !ok || f.Kind != tt.want {
				t.Fatalf("Literal(%q, %q) = %q, %v; want %q (entropy %.2f)", tt.key, tt.value, f.Kind, ok, tt.want, Entropy(tt.value))
			}
		})
	}
}

func TestEntropy(t *testing.T) {
	for s, want := range map[string]float64{"": 0, "aaaa": 0, "ab": 1, "abcd": 2, "abcdefgh": 3} {
		if got := Entropy(s); got != want {
			t.Errorf("Entropy(%q) = %v, want %v", s, got, want)
		}
	}
}

func FuzzLiteral(f *testing.F) {
	f.Add("DB_PASSWORD", "hunter2")
	f.Add("", "--token=ghp_x")
	f.Add("a_b-C.d", "-----BEGIN PRIVATE KEY-----")
	f.Fuzz(func(t *testing.T, name, value string) {
		Literal(name, value) // must not panic
		words(name)
	})
}
