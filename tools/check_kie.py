"""``trt-node check``'s KIE rows: the API and credits, and the file upload API.

The upload row sends an authenticated ``POST /api/file-stream-upload`` *without a file*:
it creates nothing (no file, so nothing stored and nothing paid). A 401 is a refused key,
a 404 (or no answer) means no upload API at ``TRT_KIE_UPLOAD_URL``, any other 4xx ("file
required") that the endpoint is there and took the key. HEAD/OPTIONS were not chosen: they
prove neither that the key is accepted nor that the POST route exists.
"""

from __future__ import annotations

from tools.check_rows import CheckResult, _fail, _ok, _shown, _skip, _warn
from trt_actors.infra.settings import Settings

__all__ = ["check_kie", "check_kie_upload"]


def check_kie(settings: Settings, min_credits: int) -> list[CheckResult]:
    from gateways.kie import KieClient
    from trt_actors.errors import KieAuthError, KieError

    client = KieClient(settings.kie_api_url, settings.kie_api_key.get_secret_value(),
                       connect_timeout=5.0, read_timeout=10.0, max_tries=2, backoff_cap=1.0)
    where = _shown(settings.kie_api_url)
    try:
        credits = client.credits()
    except KieAuthError as exc:
        why = "rejected the API key" if exc.code == 401 else "refused the account"
        return [_fail("KIE API", f"{where} {why} ({exc.code}): check TRT_KIE_API_KEY"),
                _skip("KIE credits", "KIE refused the key")]
    except KieError as exc:
        text = str(exc) if len(str(exc)) <= 160 else str(exc)[:160] + "…"
        return [_fail("KIE API", f"{where} not usable: {text}"),
                _skip("KIE credits", "KIE not reachable")]
    finally:
        client.close()
    rows = [_ok("KIE API", f"{where} accepts the key")]
    if credits < min_credits:
        rows.append(_warn("KIE credits", f"{credits} left, below the threshold {min_credits}: "
                                         "top up the KIE account"))
    else:
        rows.append(_ok("KIE credits", f"{credits} (threshold {min_credits})"))
    return rows


def check_kie_upload(settings: Settings) -> CheckResult:
    """Row ``KIE uploads``: the upload endpoint answers and accepts the key."""
    import requests

    from gateways.kie import KieUploader

    name, where = "KIE uploads", _shown(settings.kie_upload_url)
    uploader = KieUploader(settings.kie_upload_url, settings.kie_api_key.get_secret_value())
    try:
        status, message = uploader.probe()
    except requests.Timeout:
        return _fail(name, f"{where} did not answer within 10 s")
    except requests.RequestException as exc:
        return _fail(name, f"nothing answers at {where} ({type(exc).__name__}): check "
                           "TRT_KIE_UPLOAD_URL")
    finally:
        uploader.close()
    if status == 401:
        return _fail(name, f"{where} rejected the API key (401): check TRT_KIE_API_KEY")
    if status in (404, 405) or status >= 500:
        return _fail(name, f"{where} answered {status} ({message}): no working upload API "
                           "there; check TRT_KIE_UPLOAD_URL")
    return _ok(name, f"{where} upload API answers and takes the key ({status} to a probe "
                     "without a file, nothing created)")
