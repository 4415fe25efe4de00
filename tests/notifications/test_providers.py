"""Each provider's request as documented, checked by a local stand-in for its cloud (tests/notifications/
fake_providers.py: the cloud is out of reach from here), including its error replies; and the signatures against
the providers' documented example and reference code."""

import json

import pytest

from core.settings import Settings
from notifications.channels import Undeliverable
from notifications.providers import aliyun, dingtalk, feishu
from notifications.providers.aliyun import SmsChannel, VoiceChannel
from notifications.providers.dingtalk import DingtalkChannel
from notifications.providers.feishu import FeishuChannel
from notifications.providers.wecom import WecomChannel
from tests.notifications.fake_providers import (
    ALI_ID,
    ALI_SECRET,
    DING_SECRET,
    DING_TOKEN,
    FEISHU_SECRET,
    FEISHU_TOKEN,
    WECOM_KEY,
    Providers,
    dingtalk_reference_sign,
    feishu_reference_sign,
)

BODY = {"event": "new work order", "place": "1号楼1号电梯", "location": "A井道", "contractor_phone": "4008100000",
        "work_order": {"id": 42, "title": "passengers trapped", "priority": "life_safety",
                       "ack_due_at": "2026-11-25T08:05:00+00:00", "device": "s1b1-el1"}}
SUBJECT = "[life_safety] new work order: 1号楼1号电梯: passengers trapped (#42)"


@pytest.fixture
def cloud():
    providers = Providers()
    yield providers
    providers.close()


def settings(url: str) -> Settings:
    return Settings(_env_file=None, wecom_url=f"{url}/wecom/send", wecom_robots={"site1": WECOM_KEY},
                    dingtalk_url=f"{url}/dingtalk/send",
                    dingtalk_robots={"site1": {"token": DING_TOKEN, "secret": DING_SECRET}},
                    feishu_url=f"{url}/feishu/hook/", feishu_robots={"site1": {"token": FEISHU_TOKEN,
                                                                               "secret": FEISHU_SECRET}},
                    sms_endpoint=f"{url}/sms/", sms_access_key_id=ALI_ID, sms_access_key_secret=ALI_SECRET,
                    sms_sign_name="物业服务", sms_template_code="SMS_123456789",
                    voice_endpoint=f"{url}/voice/", voice_called_show_number="02100000000",
                    voice_tts_code="TTS_123456789")


def test_aliyun_signature_matches_the_documented_sendsms_example():
    params = {"AccessKeyId": "testId", "Action": "SendSms", "Format": "XML", "OutId": "123",
              "PhoneNumbers": "15300000001", "RegionId": "cn-hangzhou", "SignName": "阿里云短信测试专用",
              "SignatureMethod": "HMAC-SHA1", "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
              "SignatureVersion": "1.0", "TemplateCode": "SMS_71390007", "TemplateParam": '{"customer":"test"}',
              "Timestamp": "2017-07-12T02:42:19Z", "Version": "2017-05-25"}
    assert aliyun.signature(params, "testSecret") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="
    assert aliyun.percent("a b*~/") == "a%20b%2A~%2F"


def test_robot_signatures_match_the_providers_reference_code():
    from urllib.parse import quote_plus

    assert quote_plus(dingtalk.sign(1700000000000, DING_SECRET)) == dingtalk_reference_sign("1700000000000",
                                                                                          DING_SECRET)
    assert quote_plus(dingtalk.sign(1700000000000, "this is secret")) == dingtalk_reference_sign(
        "1700000000000", "this is secret")  # the documentation's own secret
    assert feishu.sign(1700000000, FEISHU_SECRET) == feishu_reference_sign("1700000000", FEISHU_SECRET)


def test_every_channel_sends_what_its_provider_accepts(cloud):
    s = settings(cloud.url)
    channels = [WecomChannel(s.wecom), DingtalkChannel(s.dingtalk), FeishuChannel(s.feishu), SmsChannel(s.sms),
                VoiceChannel(s.voice, s.sms)]
    for channel in channels:
        recipient = "site1" if channel.name in ("wecom", "dingtalk", "feishu") else "13700137001"
        channel.send(recipient, SUBJECT, BODY | {"mention_phone": "13700137001"})
    assert cloud.refused == []
    assert "1号楼1号电梯" in cloud.accepted["wecom"][0]["markdown"]["content"]
    ding = cloud.accepted["dingtalk"][0]
    assert ding["at"]["atMobiles"] == ["13700137001"] and "@13700137001" in ding["markdown"]["text"]
    assert "passengers trapped" in cloud.accepted["feishu"][0]["content"]["text"]
    sms = cloud.accepted["sms"][0]
    assert (sms["PhoneNumbers"], sms["SignName"], sms["TemplateCode"]) == ("13700137001", "物业服务", "SMS_123456789")
    assert json.loads(sms["TemplateParam"]) == {"order": "#42", "place": "1号楼1号电梯", "title": "passengers trapped"}
    voice = cloud.accepted["voice"][0]
    assert (voice["CalledNumber"], voice["CalledShowNumber"], voice["TtsCode"]) == ("13700137001", "02100000000",
                                                                                   "TTS_123456789")


def test_rate_limits_are_retried_and_refusals_are_not(cloud):
    s = settings(cloud.url)
    sms, wecom, ding, fei = SmsChannel(s.sms), WecomChannel(s.wecom), DingtalkChannel(s.dingtalk), \
        FeishuChannel(s.feishu)
    for provider, channel, recipient in (("sms", sms, "13700137001"), ("wecom", wecom, "site1"),
                                         ("dingtalk", ding, "site1"), ("feishu", fei, "site1")):
        cloud.replies[provider] = ["rate_limit"]
        with pytest.raises(RuntimeError) as raised:
            channel.send(recipient, SUBJECT, BODY)
        assert not isinstance(raised.value, Undeliverable), provider
        channel.send(recipient, SUBJECT, BODY)  # the retry goes through
    cloud.replies["sms"] = ["template"]
    with pytest.raises(Undeliverable, match="isv.SMS_TEMPLATE_ILLEGAL"):
        sms.send("13700137001", SUBJECT, BODY)
    wrong = settings(cloud.url)
    with pytest.raises(Undeliverable, match="SignatureDoesNotMatch"):
        SmsChannel(wrong.sms.model_copy(update={"access_key_secret": "not-the-secret"})).send("1370", SUBJECT, BODY)
    bad_robot = wrong.dingtalk.model_copy(update={"robots": {"site1": wrong.dingtalk.robots["site1"].model_copy(
        update={"secret": "SEC-wrong"})}})
    with pytest.raises(Undeliverable, match="310000"):
        DingtalkChannel(bad_robot).send("site1", SUBJECT, BODY)
    with pytest.raises(Undeliverable, match="19021"):
        FeishuChannel(wrong.feishu, clock_s=lambda: 1).send("site1", SUBJECT, BODY)  # a stale timestamp
    with pytest.raises(Undeliverable, match="93000"):
        WecomChannel(wrong.wecom.model_copy(update={"robots": {"site1": "revoked-key"}})).send("site1", SUBJECT, BODY)
    with pytest.raises(Undeliverable, match="no WeCom robot for site site9"):
        wecom.send("site9", SUBJECT, BODY)
    assert not wecom.reaches("site9") and wecom.reaches("site1")
