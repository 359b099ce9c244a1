"""Settings: the one place for defaults, limits and allowed values (ARCHON_* environment variables)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from archon_mcp._hosts import host_rule, parse_origin

EmbeddingProvider = Literal["local", "openai"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
SummaryMethod = Literal["sampling", "openai", "extractive"]
RedactMode = Literal["hooks", "all", "off"]

DEFAULT_AGENTS = ("claude", "gemini", "gpt", "user")
COMMON_EVENT_TYPES = (
    "task_created",
    "task_updated",
    "task_completed",
    "decision_made",
    "error_encountered",
    "error_resolved",
    "pattern_identified",
    "context_shared",
)

# The fields of event_data that the summaries and the resume context read (services/summaries.py,
# analyze_events): the one description of them, for the tool descriptions, the README and /api/meta.
EVENT_FIELDS: dict[str, str] = {
    "task_created": "task_id (matches later task events), title (or task, name, description)",
    "task_updated": "task_id or title; status done, completed, complete, closed, resolved, cancelled or canceled "
    "closes the task",
    "task_completed": "task_id or title (closes the task created with the same task_id or title); optional outcome; "
    "completing a task also resolves the errors logged with the same task_id",
    "decision_made": "decision (or title, summary, description, choice); optional rationale (or reason, why)",
    "error_encountered": "error (or message, description, title); optional context (or where, file), task_id; "
    '"resolved": true (or a resolution text) marks it fixed at once',
    "error_resolved": "error (or message, title): clears the earlier unresolved errors whose text starts with it",
    "pattern_identified": "pattern (or title, description)",
    "context_shared": "any fields; searchable, not summarised specially",
}

# Size budget of archon_resume_context, in estimated tokens (characters / 4).
MIN_RESUME_TOKENS, MAX_RESUME_TOKENS = 200, 50_000

# Default model and vector size for each provider when ARCHON_EMBEDDING_MODEL / _DIMENSIONS are unset.
PROVIDER_DEFAULTS: dict[str, tuple[str, int]] = {
    "local": ("all-MiniLM-L6-v2", 384),
    "openai": ("text-embedding-3-small", 1536),
}


def _checked_list(value: object, valid: Callable[[str], bool], complaint: str) -> object:
    """A comma-separated setting as a tuple, every entry checked; `complaint` names a bad one."""
    if isinstance(value, str):
        value = tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list | tuple):
        for entry in value:
            if not valid(str(entry)):
                raise ValueError(complaint.format(str(entry)[:80]))
        return tuple(str(entry) for entry in value)
    return value


class Settings(BaseSettings):
    """All configuration, read from ARCHON_* environment variables (and a .env file if present)."""

    model_config = SettingsConfigDict(env_prefix="ARCHON_", env_file=".env", extra="ignore")

    # --- storage ---------------------------------------------------------------------------
    database_url: str | None = Field(
        default=None,
        description="postgresql:// URL of an external PostgreSQL with pgvector. Unset: embedded server.",
    )
    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("archon-mcp", appauthor=False)),
        description="Where the embedded PostgreSQL keeps its files.",
    )
    database_name: str = Field(default="archon", description="Database created in the embedded server.")
    embedded_shared_buffers_mb: int | None = Field(
        default=None,
        ge=16,
        le=1_048_576,
        description="shared_buffers of the embedded PostgreSQL, in MB. Unset: an eighth of the machine's "
        "memory, between 128 and 1024 (taken only as data is read). Applies when the server next starts.",
    )
    db_pool_size: int = Field(default=5, ge=1, le=100)
    db_connect_timeout: float = Field(default=10.0, gt=0, description="Seconds to wait for a connection.")
    db_statement_timeout_ms: int = Field(default=30_000, ge=0, description="Per-statement timeout; 0 = none.")
    db_idle_in_transaction_timeout_ms: int = Field(
        default=60_000,
        ge=0,
        description="PostgreSQL ends a connection left idle inside a transaction this long (a cancelled "
        "call's, say), so its locks cannot block other writers; 0 = never.",
    )
    migrate_on_start: bool = Field(default=True, description="Apply pending migrations when serving.")
    db_synchronous_commit: bool = Field(
        default=True, description="false: faster writes, but a crash may lose the last ~0.6 s of them."
    )

    # --- domain ----------------------------------------------------------------------------
    agents: Annotated[tuple[str, ...], NoDecode] = Field(
        default=DEFAULT_AGENTS, description="Allowed agent names, comma-separated."
    )

    # --- embeddings ------------------------------------------------------------------------
    embedding_provider: EmbeddingProvider = "local"
    embedding_model: str | None = Field(default=None, description="Model name; default per provider.")
    embedding_dimensions: int | None = Field(
        default=None, ge=1, le=16000, description="Vector size; default per provider/model."
    )
    embedding_batch_size: int = Field(default=64, ge=1, le=2048)
    embedding_threads: int = Field(default=1, ge=1, le=256, description="CPU threads of the local model.")
    embedding_runtime: Literal["auto", "openvino", "onnx", "torch"] = Field(
        default="auto",
        description="How the local model runs: auto (OpenVINO in bfloat16 where the CPU has native bfloat16, "
        "about twice the throughput; ONNX Runtime elsewhere), openvino, onnx (ONNX Runtime) or torch "
        "(sentence-transformers). Without torch in the process except for torch; the model is exported to ONNX "
        "once and cached. The same vectors every way (cosine >= 0.9999).",
    )
    model_cache_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_cache_dir("archon-mcp", appauthor=False)) / "models",
        description="Where the local model's ONNX export is cached (made once, shared by every data dir).",
    )
    model_server: bool = Field(
        default=True,
        description="local provider: share one model process per data dir between every archon-mcp process "
        "(a unix socket in the data dir); false: each process loads the model itself.",
    )
    model_server_idle: float = Field(
        default=10.0,
        ge=0,
        le=86_400,
        description="Seconds the shared model process stays up after its last client has gone.",
    )
    embedding_batch_delay: float = Field(
        default=0.05, ge=0, le=5, description="Seconds the worker waits after a write so bursts embed as one batch."
    )
    embedding_timeout: float = Field(default=30.0, gt=0, description="Seconds per embedding request.")
    embedding_max_chars: int = Field(
        default=2000, ge=100, le=100_000, description="Text longer than this is truncated before embedding."
    )
    embedding_retry_max_delay: float = Field(default=60.0, gt=0, description="Backoff cap for pending rows.")
    embed_event_context: bool = Field(
        default=True,
        description="Embed each event with its context (the previous event of its session and the session's "
        "descriptive metadata) after its own text, as the keyword index does.",
    )
    search_wait_for_pending: float = Field(
        default=5.0,
        ge=0,
        description="Seconds a search waits for this server's own pending embeddings (read-your-writes).",
    )
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ARCHON_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ARCHON_OPENAI_BASE_URL", "OPENAI_BASE_URL"),
        description="OpenAI-compatible endpoint (Ollama, vLLM, ...).",
    )

    # --- summaries and resume context -------------------------------------------------------
    summarizer_order: Annotated[tuple[SummaryMethod, ...], NoDecode] = Field(
        default=("sampling", "openai", "extractive"),
        description="Summary methods to try in order: sampling (the client's model), openai (a chat model), "
        "extractive (offline, always works; tried last even when not listed).",
    )
    summarizer_model: str | None = Field(
        default=None, description="OpenAI-compatible chat model for summaries; unset: the openai method is skipped."
    )
    summarizer_base_url: str | None = Field(
        default=None, description="Chat endpoint for summaries; default: ARCHON_OPENAI_BASE_URL / OPENAI_BASE_URL."
    )
    summarizer_api_key: SecretStr | None = Field(
        default=None, description="Key for the chat endpoint; default: ARCHON_OPENAI_API_KEY / OPENAI_API_KEY."
    )
    summarizer_timeout: float = Field(default=60.0, gt=0, description="Seconds per summary model request.")
    summarizer_max_tokens: int = Field(default=1024, ge=64, le=32_000, description="Answer budget per model call.")
    summarizer_max_events: int = Field(
        default=1000, ge=10, le=100_000, description="Most events read to summarize one session (first and last half)."
    )
    summarizer_chunk_chars: int = Field(
        default=12_000, ge=500, le=1_000_000, description="Event text per model call (map step of map-reduce)."
    )
    summarizer_max_chunks: int = Field(
        default=4, ge=1, le=16, description="Most map calls per summary; longer sessions keep evenly spaced chunks."
    )
    summarize_on_end: bool = Field(
        default=False,
        description="Summarize in the background when archon_end_session gets no summary (openai, then extractive).",
    )
    resume_recent_sessions: int = Field(
        default=10, ge=1, le=200, description="How many recent sessions archon_resume_context scans."
    )
    resume_related_threshold: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Similarity for an earlier session to count as related."
    )

    # --- client hooks, redaction and stale sessions -----------------------------------------
    redact: RedactMode = Field(
        default="hooks",
        description="Secret redaction before storing (archon_mcp/redact.py, patterns in SECURITY.md): hooks = what "
        "client hooks record (default), all = also what tools and the REST API store, off = nothing.",
    )
    hook_context_tokens: int = Field(
        default=1500,
        ge=200,
        le=50_000,
        description="Budget of the context a SessionStart hook prints, counted as characters / 4 of the printed text.",
    )
    hook_max_text_chars: int = Field(
        default=2000, ge=100, le=100_000, description="Longest prompt, command or error text a hook event keeps."
    )
    hook_daemon_idle_seconds: float = Field(
        default=900.0,
        ge=5.0,
        description="The hook helper process (started by the first hook call) exits after this long without a call.",
    )
    stale_session_hours: float = Field(
        default=12.0,
        gt=0,
        description="An active session without events for this long is ended by itself (metadata ended_by: stale) "
        "and summarized.",
    )
    stale_check_seconds: float = Field(
        default=900.0, ge=10.0, description="How often a running server looks for stale sessions."
    )

    # --- limits ----------------------------------------------------------------------------
    max_page_size: int = Field(default=100, ge=1, le=10_000, description="Largest `limit` a list accepts.")
    max_event_limit: int = Field(default=500, ge=1, le=100_000, description="Largest `event_limit`.")
    max_search_results: int = Field(default=50, ge=1, le=1000)
    max_batch_events: int = Field(default=500, ge=1, le=10_000, description="Most events per archon_add_events.")
    max_json_bytes: int = Field(default=64 * 1024, ge=256, description="Largest event_data / metadata.")
    max_json_depth: int = Field(default=20, ge=2, le=200)
    max_summary_chars: int = Field(default=20_000, ge=100)
    max_query_chars: int = Field(default=2_000, ge=10)
    max_event_type_chars: int = Field(
        default=64, ge=10, le=1000, description="Longest event_type (snake_case: ^[a-z][a-z0-9_]*$)."
    )
    max_days: int = Field(default=3650, ge=1)

    # --- serving ---------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=1, le=65535)
    log_level: LogLevel = "INFO"
    auth_token: SecretStr | None = Field(
        default=None, description="Bearer token required on /mcp, /sse, /messages and /api (sse/http)."
    )
    auth_token_file: Path | None = Field(
        default=None, description="File holding the bearer token (first line); used when auth_token is unset."
    )
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Extra Host header values accepted over HTTP (DNS-rebinding protection), comma-separated, "
        "e.g. memory.example.com or 10.0.0.5:8765. The bound address and localhost are always accepted.",
    )

    allowed_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Extra browser origins (scheme://host[:port]) allowed to call /api, and /mcp, comma-separated, "
        "e.g. https://memory.example.com behind a TLS proxy that does not send X-Forwarded-Proto. The page's own "
        "origin (same scheme, host and port as the request) is always allowed.",
    )
    max_api_body_bytes: int = Field(
        default=1024 * 1024,
        ge=4096,
        description="Largest REST (/api) request body; bigger ones get 413 before they are read.",
    )
    max_mcp_body_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=65536,
        description="Largest MCP message body (/mcp, /messages); bigger ones get 413 before they are read.",
    )
    mcp_max_sessions: int = Field(
        default=1000,
        ge=1,
        le=1_000_000,
        description="Most open streamable-HTTP MCP sessions; at the cap the least recently used idle one is ended.",
    )
    mcp_max_sessions_per_client: int = Field(
        default=100,
        ge=1,
        le=1_000_000,
        description="Most open MCP sessions per client address; at the cap that client's least recently used "
        "idle session is ended.",
    )
    mcp_session_idle_timeout: float = Field(
        default=1800.0, gt=0, description="Seconds without any request after which an MCP session is ended."
    )
    shared_server: bool = Field(
        default=True,
        description="stdio: every `archon-mcp serve` with the same ARCHON_* settings relays to one shared server "
        "process per data dir (started by the first, a unix socket in the data dir), so a new client answers at "
        "once and the model, pool and worker exist once; false: each serve runs the whole server itself. "
        "Read by the relay from the environment and ./.env before anything else loads.",
    )
    shared_server_idle: float = Field(
        default=60.0,
        ge=0,
        le=86_400,
        description="Seconds the shared server stays up after its last client has gone.",
    )

    @field_validator("agents", mode="before")
    @classmethod
    def _split_agents(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part for part in value.split(",")]
        if isinstance(value, list | tuple):
            names = tuple(str(v).strip().lower() for v in value if str(v).strip())
            if not names:
                raise ValueError("ARCHON_AGENTS must name at least one agent")
            return names
        return value

    @field_validator("auth_token_file", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # ARCHON_AUTH_TOKEN_FILE= (set but empty) means no file, as ARCHON_AUTH_TOKEN= means no token.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        return _checked_list(
            value,
            lambda host: host_rule(host) is not None,
            "ARCHON_ALLOWED_HOSTS entry {!r} is not a host name or address with an optional port, "
            "e.g. memory.example.com or 10.0.0.5:8765",
        )

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        return _checked_list(
            value,
            lambda origin: parse_origin(origin) is not None,
            "ARCHON_ALLOWED_ORIGINS entry {!r} is not an origin: write scheme://host[:port], "
            "e.g. https://memory.example.com",
        )

    @property
    def resolved_auth_token(self) -> str | None:
        """The bearer token from ARCHON_AUTH_TOKEN, else from ARCHON_AUTH_TOKEN_FILE; None when neither is set."""
        if self.auth_token is not None and self.auth_token.get_secret_value().strip():
            return self.auth_token.get_secret_value().strip()
        if self.auth_token_file is None:
            return None
        where = f"ARCHON_AUTH_TOKEN_FILE {str(self.auth_token_file)!r}"
        fix = "put the bearer token on its first line, or unset ARCHON_AUTH_TOKEN_FILE"
        try:
            lines = self.auth_token_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ValueError(f"{where} cannot be read ({exc.strerror or exc}): {fix}") from None
        except UnicodeDecodeError:
            raise ValueError(f"{where} is not UTF-8 text: {fix}") from None
        token = lines[0].strip() if lines else ""
        if not token:
            raise ValueError(f"{where} is empty (or its first line is blank): {fix}")
        return token

    def check_http_serving(self) -> None:
        """Raises ValueError (naming the variable to fix) for settings that serving HTTP would
        otherwise trip over only after PostgreSQL has started."""
        _ = self.resolved_auth_token
        _ = self.resolved_embedding_dimensions

    @field_validator("summarizer_order", mode="before")
    @classmethod
    def _split_order(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip().lower() for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple) and not value:
            raise ValueError("ARCHON_SUMMARIZER_ORDER must name at least one of sampling, openai, extractive")
        return tuple(value) if isinstance(value, list) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def resolved_embedding_model(self) -> str:
        return self.embedding_model or PROVIDER_DEFAULTS[self.embedding_provider][0]

    @property
    def resolved_embedding_dimensions(self) -> int:
        if self.embedding_dimensions is not None:
            return self.embedding_dimensions
        model = self.resolved_embedding_model
        if model == "text-embedding-3-large":
            return 3072
        if self.embedding_model is None or model in ("text-embedding-3-small", "text-embedding-ada-002"):
            return PROVIDER_DEFAULTS[self.embedding_provider][1]
        if self.embedding_provider == "local":
            return PROVIDER_DEFAULTS["local"][1]
        raise ValueError(
            f"ARCHON_EMBEDDING_DIMENSIONS is required for model {model!r}: set it to the model's vector size"
        )
