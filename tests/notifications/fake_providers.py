"""Stand-ins for the providers' clouds (out of reach from here, so a fake is the only way): one local HTTP server
that checks each request the way the provider documents it (format, required fields, signature computed here
independently of the code under test) and answers as the provider does, including its error replies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

from devtools.localservices import free_port

WECOM_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
DING_TOKEN, DING_SECRET = "a" * 64, "SEC" + "b" * 64
FEISHU_TOKEN, FEISHU_SECRET = "c" * 36, "d" * 22
ALI_ID, ALI_SECRET = "LTAI5tTestKeyId00000", "TestSecret0123456789abcdefghij"


def dingtalk_reference_sign(timestamp: str, secret: str) -> str:
    """DingTalk's documented Python (custom robot, 加签), URL-encoded as the doc does."""
    secret_enc = secret.encode("utf-8")
    string_to_sign_enc = f"{timestamp}\n{secret}".encode()
    hmac_code = hmac.new(secret_enc, string_to_sign_enc, digestmod=hashlib.sha256).digest()
    return quote_plus(base64.b64encode(hmac_code))


def feishu_reference_sign(timestamp: str, secret: str) -> str:
    """Feishu's documented Python (custom bot, 签名校验)."""
    hmac_code = hmac.new(f"{timestamp}\n{secret}".encode(), digestmod=hashlib.sha256).digest()
    return base64.b64encode(hmac_code).decode("utf-8")


def aliyun_reference_signature(params: dict[str, str], secret: str) -> str:
    """Aliyun's RPC signature (v1.0) as its documentation spells it."""
    def enc(text: str) -> str:
        return quote(text, safe="").replace("+", "%20").replace("*", "%2A").replace("%7E", "~")
    query = "&".join(f"{enc(k)}={enc(params[k])}" for k in sorted(params))
    to_sign = "GET&" + enc("/") + "&" + enc(query)
    return base64.b64encode(hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()).decode()


class Providers:
    """Records accepted requests per provider; ``reply[provider]`` chooses the next answers (a list, used up)."""

    def __init__(self) -> None:
        self.accepted: dict[str, list[dict]] = {"wecom": [], "dingtalk": [], "feishu": [], "sms": [], "voice": []}
        self.refused: list[str] = []
        self.replies: dict[str, list[str]] = {}
        providers = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                providers._answer(self, "POST", json.loads(self.rfile.read(length) or b"{}"))

            def do_GET(self) -> None:  # noqa: N802
                providers._answer(self, "GET", {})

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()

    def next_reply(self, provider: str) -> str:
        queue = self.replies.get(provider) or []
        return queue.pop(0) if queue else "ok"

    def _answer(self, handler: BaseHTTPRequestHandler, method: str, body: dict) -> None:
        url = urlsplit(handler.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        provider = url.path.strip("/").split("/")[0]
        check = getattr(self, f"_{provider}", None)
        status, reply = (404, {"error": "unknown path"}) if check is None else check(url.path, query, body)
        data = json.dumps(reply).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _refuse(self, why: str) -> None:
        self.refused.append(why)

    # --- WeCom group robot ---
    def _wecom(self, path: str, query: dict, body: dict) -> tuple[int, dict]:
        if query.get("key") != WECOM_KEY:
            self._refuse("wecom: wrong key")
            return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}
        if body.get("msgtype") != "markdown" or not body.get("markdown", {}).get("content"):
            self._refuse("wecom: not a markdown message")
            return 200, {"errcode": 40008, "errmsg": "invalid message type"}
        if self.next_reply("wecom") == "rate_limit":
            return 200, {"errcode": 45009, "errmsg": "api freq out of limit"}
        self.accepted["wecom"].append(body)
        return 200, {"errcode": 0, "errmsg": "ok"}

    # --- DingTalk custom robot ---
    def _dingtalk(self, path: str, query: dict, body: dict) -> tuple[int, dict]:
        timestamp, sign = query.get("timestamp", ""), query.get("sign", "")
        if query.get("access_token") != DING_TOKEN:
            return 200, {"errcode": 300001, "errmsg": "token is not exist"}
        fresh = timestamp.isdigit() and abs(int(timestamp) - time.time() * 1000) < 3_600_000
        if not fresh or quote_plus(sign) != dingtalk_reference_sign(timestamp, DING_SECRET):
            self._refuse("dingtalk: sign not match")
            return 200, {"errcode": 310000, "errmsg": "sign not match"}
        if body.get("msgtype") != "markdown" or not {"title", "text"} <= set(body.get("markdown", {})):
            return 200, {"errcode": 40035, "errmsg": "missing parameter"}
        if self.next_reply("dingtalk") == "rate_limit":
            return 200, {"errcode": 130101, "errmsg": "send too fast"}
        self.accepted["dingtalk"].append(body)
        return 200, {"errcode": 0, "errmsg": "ok"}

    # --- Feishu custom bot ---
    def _feishu(self, path: str, query: dict, body: dict) -> tuple[int, dict]:
        if unquote(path).rsplit("/", 1)[-1] != FEISHU_TOKEN:
            return 404, {"code": 19001, "msg": "param invalid: incoming webhook access token invalid"}
        timestamp = str(body.get("timestamp", ""))
        if body.get("sign") != feishu_reference_sign(timestamp, FEISHU_SECRET) or \
                abs(int(timestamp or 0) - time.time()) > 3600:
            self._refuse("feishu: sign match fail")
            return 200, {"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"}
        if body.get("msg_type") != "text" or not body.get("content", {}).get("text"):
            return 200, {"code": 9499, "msg": "Bad Request"}
        if self.next_reply("feishu") == "rate_limit":
            return 200, {"code": 11232, "msg": "frequency limited"}
        self.accepted["feishu"].append(body)
        return 200, {"code": 0, "msg": "success"}

    # --- Aliyun SMS and voice (RPC) ---
    def _aliyun(self, query: dict, action: str, required: set[str], kind: str) -> tuple[int, dict]:
        params = {k: v for k, v in query.items() if k != "Signature"}
        if params.get("AccessKeyId") != ALI_ID:
            return 404, {"Code": "InvalidAccessKeyId.NotFound", "Message": "Specified access key is not found."}
        if query.get("Signature") != aliyun_reference_signature(params, ALI_SECRET):
            self._refuse(f"{kind}: SignatureDoesNotMatch")
            return 400, {"Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched"}
        missing = required - {k for k, v in params.items() if v}
        if params.get("Action") != action or missing or params.get("SignatureVersion") != "1.0":
            return 400, {"Code": "MissingParameter", "Message": f"missing {sorted(missing)}"}
        reply = self.next_reply(kind)
        if reply == "rate_limit":
            return 200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控Permits:1"}
        if reply == "template":
            return 200, {"Code": "isv.SMS_TEMPLATE_ILLEGAL", "Message": "模板不合法(不存在或被拉黑)"}
        self.accepted[kind].append(params)
        return 200, {"Code": "OK", "Message": "OK", "RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990",
                     "BizId": "900619746936498440^0"}

    def _sms(self, path: str, query: dict, body: dict) -> tuple[int, dict]:
        return self._aliyun(query, "SendSms", {"PhoneNumbers", "SignName", "TemplateCode", "TemplateParam",
                                                "Timestamp", "SignatureNonce"}, "sms")

    def _voice(self, path: str, query: dict, body: dict) -> tuple[int, dict]:
        return self._aliyun(query, "SingleCallByTts", {"CalledNumber", "CalledShowNumber", "TtsCode", "Timestamp",
                                                        "SignatureNonce"}, "voice")
