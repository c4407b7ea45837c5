"""GuardDuty through boto3, made to behave like the other sources' clients: one client per
source (explicit keys, or boto3's default credential chain), botocore's own retry modes with the
waits going through an injected ``sleep``, and every failure a :class:`SourceError` naming the
source, the call, the HTTP status and AWS's error code, never a credential. boto3 is imported on
first use, so ``clearance check`` never loads it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from clearance.errors import SourceError, UnparseableError

if TYPE_CHECKING:
    from clearance.sources.guardduty.source import GuardDutyConfig

__all__ = ["GuardDutyApi", "UnparseableError"]

_HINTS = {
    "AccessDeniedException": "the IAM principal needs guardduty:ListDetectors, "
    "guardduty:ListFindings and guardduty:GetFindings",
    "UnrecognizedClientException": "check the AWS access key",
    "InvalidSignatureException": "check the AWS secret access key",
    "ExpiredTokenException": "the session token expired; refresh the credentials",
    "BadRequestException": "check detector_id and region",
    "ThrottlingException": "raise max_attempts or use retry_mode 'adaptive'",
}


class GuardDutyApi:
    """The GuardDuty API for source ``source`` in ``config``'s account and region."""

    def __init__(
        self, source: str, config: GuardDutyConfig, *, sleep: Callable[[float], None]
    ) -> None:
        self.source = source
        self.config = config
        self._sleep = sleep
        self._client: Any = None

    def close(self) -> None:
        """Close the boto3 client's connection pool; a later call makes a new client."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def client(self) -> Any:
        """The boto3 GuardDuty client, made on first use."""
        return self._connect()

    def _connect(self) -> Any:
        if self._client is None:
            try:
                import boto3  # type: ignore[import-untyped]  # noqa: PLC0415 - optional extra
                from botocore.config import Config  # type: ignore[import-untyped]  # noqa: PLC0415
            except ImportError as exc:
                raise SourceError(
                    self.source, "boto3 is not installed; install clearance[aws]"
                ) from exc
            cfg = self.config
            session = boto3.session.Session(
                aws_access_key_id=cfg.access_key_id,
                aws_secret_access_key=_reveal(cfg.secret_access_key),
                aws_session_token=_reveal(cfg.session_token),
                profile_name=cfg.profile,
                region_name=cfg.region,
            )
            # total_max_attempts counts the first try; botocore's max_attempts would not.
            retries: Any = {"mode": cfg.retry_mode, "total_max_attempts": cfg.max_attempts}
            client = session.client(
                "guardduty",
                endpoint_url=cfg.endpoint_url,
                config=Config(
                    retries=retries,
                    connect_timeout=cfg.connect_timeout,
                    read_timeout=cfg.read_timeout,
                    user_agent_extra="clearance",
                ),
            )
            _sleep_through(client, self._sleep, cfg.max_attempts)
            self._client = client
        return self._client

    def call(self, operation: str, method: Callable[..., Any], **kwargs: Any) -> dict[str, Any]:
        """One API call; botocore retries throttling itself, what still fails is a SourceError."""
        from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]  # noqa: PLC0415

        try:
            result: dict[str, Any] = method(**kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = str(error.get("Code", "Unknown"))
            text = (
                f"{operation}: HTTP {status} {code}: {self._scrub(str(error.get('Message', '')))}"
            )
            if code in _HINTS:
                text += f" (tip: {_HINTS[code]})"
            raise SourceError(self.source, text) from exc
        except BotoCoreError as exc:
            raise SourceError(self.source, f"{operation}: {self._scrub(str(exc))}") from exc
        except (AttributeError, TypeError, ValueError, KeyError) as exc:
            # botocore's response parser meeting JSON that does not fit the service model.
            raise UnparseableError(
                self.source, f"{operation}: response does not fit the API model"
            ) from exc
        return result

    def _scrub(self, message: str) -> str:
        for secret in (self.config.secret_access_key, self.config.session_token):
            value = _reveal(secret)
            if value:
                message = message.replace(value, "***")
        return message[:300]


def _sleep_through(client: Any, sleep: Callable[[float], None], max_attempts: int) -> None:
    """Keep botocore's retry decisions (which errors, how many times, what backoff) but wait
    through ``sleep``: botocore's endpoint would call ``time.sleep`` itself, which a test cannot
    skip and a caller cannot observe. Its standard handler is swapped for the same handler
    wrapped; the adaptive mode's client-side rate limiter is left as botocore set it."""
    from botocore.retries import standard  # type: ignore[import-untyped]  # noqa: PLC0415

    service = client.meta.service_model.service_id.hyphenize()
    event, unique_id = f"needs-retry.{service}", f"retry-config-{service}"
    client.meta.events.unregister(event, unique_id=unique_id)
    handler = standard.register_retry_handler(client, max_attempts=max_attempts)
    client.meta.events.unregister(event, unique_id=unique_id)

    def needs_retry(**kwargs: Any) -> float | None:
        delay = handler.needs_retry(**kwargs)
        if delay is None:
            return None
        sleep(delay)
        return 0.0  # botocore sleeps this long before retrying: the wait is already done

    client.meta.events.register(event, needs_retry, unique_id=f"clearance-{unique_id}")


def _reveal(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()
