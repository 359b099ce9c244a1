"""Secret redaction (archon_mcp.redact): each pattern, and the text that must come through unchanged."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from archon_mcp.redact import redact_secrets, redact_value

# Made-up credentials of the right shapes (none is real).
OPENAI = "sk-" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0uV"
OPENAI_PROJECT = "sk-proj-" + "Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78St90Uv12"
ANTHROPIC = "sk-ant-api03-" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa-_ZZ"
GITHUB_CLASSIC = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
GITHUB_OAUTH = "gho_" + "Q7r8A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6"
GITHUB_SERVER = "ghs_" + "M3n4O5p6Q7r8A1b2C3d4E5f6G7h8I9j0K1l2"
GITHUB_PAT = "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ"
AWS = "AKIA" + "IOSFODNN7EXAMPLE"
SLACK = "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
GOOGLE = "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"
STRIPE = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)


@pytest.mark.parametrize(
    ("secret", "kind"),
    [
        (OPENAI, "openai_key"),
        (OPENAI_PROJECT, "openai_key"),
        (ANTHROPIC, "anthropic_key"),
        (GITHUB_CLASSIC, "github_token"),
        (GITHUB_OAUTH, "github_token"),
        (GITHUB_SERVER, "github_token"),
        (GITHUB_PAT, "github_token"),
        (AWS, "aws_access_key"),
        (SLACK, "slack_token"),
        (GOOGLE, "google_api_key"),
        (STRIPE, "stripe_key"),
        (JWT, "jwt"),
    ],
)
def test_provider_tokens_are_redacted_by_kind(secret: str, kind: str) -> None:
    text = f"using {secret} for the call"
    out = redact_secrets(text)
    assert secret not in out, out
    assert out == f"using [REDACTED:{kind}] for the call"


def test_authorization_header_keeps_the_scheme() -> None:
    out = redact_secrets("curl -H 'Authorization: Bearer abcdef0123456789xyz' https://api.example.com")
    assert "abcdef0123456789xyz" not in out
    assert "Authorization: Bearer [REDACTED:authorization]" in out


def test_bare_bearer_token() -> None:
    out = redact_secrets("sent bearer Zm9vYmFyYmF6cXV4MTIzNDU2 to the proxy")
    assert out == "sent bearer [REDACTED:bearer] to the proxy"


def test_basic_auth_header() -> None:
    out = redact_secrets("authorization=Basic dXNlcjpodW50ZXIy")
    assert "dXNlcjpodW50ZXIy" not in out


@pytest.mark.parametrize(
    "url",
    [
        "postgres://app:s3cr3t-P@ss@db.internal:5432/billing",
        "postgresql+asyncpg://app:s3cr3t@localhost/archon",
        "mysql://root:s3cr3t@127.0.0.1/db",
        "https://deploy:s3cr3t@git.example.com/repo.git",
        "redis://:s3cr3t@cache:6379/0",
    ],
)
def test_passwords_in_urls(url: str) -> None:
    out = redact_secrets(f"connect to {url} now")
    assert "s3cr3t" not in out, out
    assert "[REDACTED:password]@" in out


def test_url_password_keeps_user_and_host() -> None:
    assert redact_secrets("postgres://app:hunter2@db:5432/x") == "postgres://app:[REDACTED:password]@db:5432/x"


def test_connection_string_key_values() -> None:
    out = redact_secrets("host=db user=app password=hunter2 dbname=billing")
    assert out == "host=db user=app password=[REDACTED:secret] dbname=billing"
    out = redact_secrets("Server=db;Database=x;User Id=sa;Password=hunter2;")
    assert "hunter2" not in out


def test_pem_private_key_block() -> None:
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1x\nabcdEFGH\n-----END RSA PRIVATE KEY-----"
    out = redact_secrets(f"key:\n{key}\ndone")
    assert out == "key:\n[REDACTED:private_key]\ndone"
    openssh = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"
    assert redact_secrets(openssh) == "[REDACTED:private_key]"


def test_truncated_pem_block_is_redacted_to_the_end() -> None:
    out = redact_secrets("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC")
    assert out == "[REDACTED:private_key]"


def test_public_key_and_certificate_survive() -> None:
    text = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----"
    assert redact_secrets(text) == text


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("SECRET=abc123def", "abc123def"),
        ("PASSWORD=hunter2", "hunter2"),
        ("API_KEY=0123456789abcdef", "0123456789abcdef"),
        ("TOKEN=tkn_live_123", "tkn_live_123"),
        ("export GITHUB_TOKEN='some token value'", "some token value"),
        ('DB_PASSWORD="correct horse battery staple"', "correct horse battery staple"),
        ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
        ("  client_secret: abcdef123456", "abcdef123456"),
    ],
)
def test_env_style_lines(line: str, secret: str) -> None:
    out = redact_secrets(f"# config\n{line}\nDEBUG=true")
    assert secret not in out, out
    assert "[REDACTED:secret]" in out
    assert out.endswith("\nDEBUG=true")


def test_quoted_json_secret() -> None:
    out = redact_secrets('{"password": "hunter2", "user": "ann"}')
    assert out == '{"password": "[REDACTED:secret]", "user": "ann"}'


def test_structured_values_by_key_name() -> None:
    value = {
        "command": f"OPENAI_API_KEY={OPENAI} python run.py",
        "env": {"DB_PASSWORD": "hunter2", "max_tokens": "400", "token_count": 12},
        "items": [f"Bearer {'x' * 20}"],
    }
    out = redact_value(value)
    assert OPENAI not in str(out)
    assert out["env"] == {"DB_PASSWORD": "[REDACTED:secret]", "max_tokens": "400", "token_count": 12}
    assert out["items"] == ["Bearer [REDACTED:bearer]"]


def test_redaction_is_idempotent() -> None:
    text = f"TOKEN={OPENAI}\npostgres://a:b@c/d\nAuthorization: Bearer {'y' * 30}"
    once = redact_secrets(text)
    assert redact_secrets(once) == once


@pytest.mark.parametrize(
    "text",
    [
        str(uuid.UUID("1c2e3f40-5a6b-4c7d-8e9f-0a1b2c3d4e5f")),
        hashlib.sha256(b"x").hexdigest(),
        "commit 3f786850e387550fdab836ed7e6dc881de23001b",
        "Reset your password from the settings page; the password field is required.",
        "def login(user, password=None, token=None): return check(password)",
        "client = Client(api_key=settings.api_key, token=os.environ['TOKEN'])",
        "export TOKEN=${TOKEN}",
        'headers = {"Authorization": f"Bearer {token}"}',
        "http://localhost:8080/api/sessions?limit=20",
        "ssh://git@github.com/org/repo.git",
        "max_tokens=400 token_count=12 tokenizer=bpe",
        "task-1482 sk-learn scikit-learn desk-lamp",
        "the tokens were counted; passwords are hashed with argon2",
        "AKIA is the prefix of AWS access key ids",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        "SELECT * FROM users WHERE password_hash = $1",
        "Password:\n",
    ],
)
def test_ordinary_text_survives(text: str) -> None:
    assert redact_secrets(text) == text


def test_huge_text_is_scanned_bounded() -> None:
    text = "a" * 2_000_000
    assert len(redact_secrets(text)) <= 256 * 1024
