"""Writes the messy-mail corpus (run once: `python tests/intake/corpus/make_corpus.py`); the files are committed.

Kept as code because several cases are bytes no editor keeps intact (GBK, Big5, ISO-2022-JP, broken base64)."""

# ruff: noqa: E501  (mail bodies are kept on one line as the clients wrote them)
from __future__ import annotations

import base64
import json
import mailbox
import quopri
import time
from email.header import Header
from pathlib import Path

HERE = Path(__file__).parent
CRLF = "\r\n"
CASES: dict[str, bytes] = {}
EXPECTED: dict[str, dict] = {}


def mail(name: str, head: str, body: bytes | str, expected: dict) -> None:
    head_bytes = head.strip("\n").replace("\n", CRLF).encode("utf-8")
    body_bytes = body.replace("\n", CRLF).encode("utf-8") if isinstance(body, str) else body
    CASES[name] = head_bytes + b"\r\n\r\n" + body_bytes
    EXPECTED[name] = expected


def b64(text: str, charset: str) -> str:
    return base64.encodebytes(text.encode(charset)).decode("ascii")


# --- forwards -------------------------------------------------------------------------------------------------------

mail(
    "gmail_forward_en.eml",
    """
From: Sam Rep <sam@handoff-demo.com>
To: tasks@handoff.local
Subject: Fwd: Website relaunch: next steps
Date: Tue, 07 Jan 2025 09:12:44 +0100
Message-ID: <CAGmail-fwd-0001@mail.gmail.com>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="000000000000gmail"
""",
    """--000000000000gmail
Content-Type: text/plain; charset="UTF-8"

Can someone pick this up? Thanks

---------- Forwarded message ---------
From: Alice Chen <alice.chen@acme-corp.com>
Date: Mon, Jan 6, 2025 at 4:30 PM
Subject: Website relaunch: next steps
To: Sam Rep <sam@handoff-demo.com>


Hi Sam,

Could you send us the revised staging timeline by Friday?
Also please ask Priya to review the SSO settings before the launch.

Best regards,
Alice Chen
Head of Digital, Acme Corp
+1 555 0100

--000000000000gmail
Content-Type: text/html; charset="UTF-8"

<div dir="ltr">Can someone pick this up? Thanks<br><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">---------- Forwarded message ---------<br>From: <strong class="gmail_sendername" dir="auto">Alice Chen</strong> <span dir="auto">&lt;alice.chen@acme-corp.com&gt;</span><br>Date: Mon, Jan 6, 2025 at 4:30 PM<br>Subject: Website relaunch: next steps<br>To: Sam Rep &lt;sam@handoff-demo.com&gt;<br></div><br><br><div dir="ltr">Hi Sam,<div><br></div><div>Could you send us the revised staging timeline by Friday?</div></div></div></div>

--000000000000gmail--
""",
    {
        "status": "accepted",
        "sender": "alice.chen@acme-corp.com",
        "forwarded_by": "sam@handoff-demo.com",
        "subject": "Website relaunch: next steps",
        "sent_at": "2025-01-06T16:30:00+01:00",
        "text_contains": ["revised staging timeline by Friday", "ask Priya to review"],
        "text_excludes": ["Head of Digital", "+1 555 0100", "Can someone pick this up"],  # a hand-off, not an ask
    },
)

mail(
    "gmail_forward_zh.eml",
    """
From: =?UTF-8?B?5p2O5piO?= <liming@handoff-demo.com>
To: tasks@handoff.local
Subject: =?UTF-8?B?RndkOiDpobnnm67lkK/liqjkvJrorq7lronmjpI=?=
Date: Wed, 08 Jan 2025 10:00:00 +0800
Message-ID: <CAGmail-zh-0002@mail.gmail.com>
MIME-Version: 1.0
Content-Type: text/plain; charset="UTF-8"
Content-Transfer-Encoding: base64
""",
    b64(
        "请跟进一下。\n\n---------- 转发的邮件 ---------\n发件人： 王芳 <wangfang@huaxin-tech.cn>\n"
        "日期：2025年1月7日周二 下午3:20\n主题：项目启动会安排\n收件人： 李明 <liming@handoff-demo.com>\n\n\n"
        "李经理您好，\n\n请在下周五前提供项目计划书，并安排技术负责人参加启动会。\n\n谢谢！\n王芳\n华信科技 采购部\n",
        "utf-8",
    ),
    {
        "status": "accepted",
        "sender": "wangfang@huaxin-tech.cn",
        "forwarded_by": "liming@handoff-demo.com",
        "subject": "项目启动会安排",
        "sent_at": "2025-01-07T15:20:00+08:00",
        "text_contains": ["请在下周五前提供项目计划书"],
        "text_excludes": ["华信科技 采购部", "请跟进一下"],  # "please follow up": a hand-off, not an ask
    },
)

outlook_body = (
    "Please handle \u2013 customer is waiting.\n\n"
    "-----Original Message-----\n"
    "From: Bob Miller [mailto:bob.miller@globex.com]\n"
    "Sent: Monday, January 6, 2025 11:05 AM\n"
    "To: Sam Rep <sam@handoff-demo.com>\n"
    "Subject: Invoice discrepancy\n\n"
    "Hi Sam,\n\nThe March invoice double-counts the onboarding fee. Please correct it and resend by Wednesday.\n\n"
    "Thanks,\nBob\n"
)
mail(
    "outlook_forward_en_qp_latin1.eml",
    """
From: "Rep, Sam" <sam@handoff-demo.com>
To: <tasks@handoff.local>
Subject: FW: Invoice discrepancy
Date: Mon, 6 Jan 2025 12:01:00 -0500
Message-ID: <DM6PR-outlook-0003@namprd.outlook.com>
MIME-Version: 1.0
Content-Type: text/plain; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable
""",
    quopri.encodestring(outlook_body.replace("\n", "\r\n").encode("cp1252")),
    {
        "status": "accepted",
        "sender": "bob.miller@globex.com",
        "forwarded_by": "sam@handoff-demo.com",
        "subject": "Invoice discrepancy",
        "sent_at": "2025-01-06T11:05:00-05:00",
        "text_contains": ["Please handle \u2013 customer is waiting", "double-counts the onboarding fee"],
        "text_excludes": ["-----Original Message-----"],
    },
)

outlook_zh = (
    "麻烦尽快处理。\n\n"
    "-----原始邮件-----\n"
    "发件人: 张伟 <zhangwei@huaxin-tech.cn>\n"
    "发送时间: 2025年3月4日 14:30\n"
    "收件人: 李明 <liming@handoff-demo.com>\n"
    "抄送: 陈静 <chenjing@huaxin-tech.cn>\n"
    "主题: 项目进度\n\n"
    "李明，你好：\n\n请在3月10日前把测试报告发给我们，另外安排一次周会回顾上线风险。\n\n此致\n敬礼\n张伟\n"
)
mail(
    "outlook_forward_zh_gbk.eml",
    f"""
From: =?gb2312?B?{base64.b64encode("李明".encode("gbk")).decode()}?= <liming@handoff-demo.com>
To: tasks@handoff.local
Subject: {Header("转发: 项目进度", "gb2312").encode()}
Date: Tue, 4 Mar 2025 15:02:11 +0800
Message-ID: <outlook-zh-0004@handoff-demo.com>
MIME-Version: 1.0
Content-Type: text/plain; charset="gb2312"
Content-Transfer-Encoding: 8bit
""",
    outlook_zh.replace("\n", "\r\n").encode("gbk"),
    {
        "status": "accepted",
        "sender": "zhangwei@huaxin-tech.cn",
        "forwarded_by": "liming@handoff-demo.com",
        "subject": "项目进度",
        "sent_at": "2025-03-04T14:30:00+08:00",
        "text_contains": ["请在3月10日前把测试报告发给我们", "麻烦尽快处理"],
        "text_excludes": ["敬礼"],
    },
)

mail(
    "outlook_forward_html_only.eml",
    """
From: Dana Lee <dana@handoff-demo.com>
To: tasks@handoff.local
Subject: FW: Data migration questions
Date: Thu, 09 Jan 2025 08:00:00 +0000
Message-ID: <outlook-html-0005@handoff-demo.com>
MIME-Version: 1.0
Content-Type: text/html; charset="utf-8"
Content-Transfer-Encoding: quoted-printable
""",
    quopri.encodestring(
        b"<html><head><style>p {margin:0}</style></head><body><div>FYI &#8211; see below.</div>"
        b'<div id="appendonsend"></div><hr style="display:inline-block;width:98%">'
        b'<div id="divRplyFwdMsg"><font face="Calibri"><b>From:</b> Jane Doe &lt;jane.doe@globex.com&gt;<br>'
        b"<b>Sent:</b> Wednesday, January 8, 2025 5:45 PM<br><b>To:</b> Dana Lee &lt;dana@handoff-demo.com&gt;<br>"
        b"<b>Subject:</b> Data migration questions</font></div><div><p>Hello Dana,</p>"
        b"<p>Can your team export the legacy customer table as CSV by Jan 15?</p>"
        b"<p>We also need the field mapping document.</p><p>Regards,<br>Jane</p></div>"
        b"<script>alert(1)</script></body></html>"
    ),
    {
        "status": "accepted",
        "sender": "jane.doe@globex.com",
        "forwarded_by": "dana@handoff-demo.com",
        "subject": "Data migration questions",
        "sent_at": "2025-01-08T17:45:00+00:00",
        "text_contains": ["export the legacy customer table as CSV by Jan 15", "field mapping document"],
        "text_excludes": ["alert(1)", "margin:0"],
    },
)

mail(
    "apple_mail_forward.eml",
    """
From: Sam Rep <sam@handoff-demo.com>
To: tasks@handoff.local
Subject: Fwd: Training session
Date: Fri, 10 Jan 2025 18:20:00 +0100
Message-Id: <5A1B2C3D-APPLE-0006@handoff-demo.com>
Mime-Version: 1.0 (Mac OS X Mail 16.0)
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: 7bit
""",
    """

Begin forwarded message:

From: Tom Becker <tom.becker@initech.de>
Subject: Training session
Date: January 9, 2025 at 2:15:00 PM GMT+1
To: Sam Rep <sam@handoff-demo.com>

Hi Sam,

we would like a second admin training for the new team in February. Please propose two dates.

Sent from my iPhone
""",
    {
        "status": "accepted",
        "sender": "tom.becker@initech.de",
        "forwarded_by": "sam@handoff-demo.com",
        "subject": "Training session",
        "sent_at": "2025-01-09T14:15:00+01:00",
        "text_contains": ["Please propose two dates"],
        "text_excludes": ["Sent from my iPhone", "Begin forwarded message"],
    },
)

mail(
    "thunderbird_forward.eml",
    """
From: Dana Lee <dana@handoff-demo.com>
To: tasks@handoff.local
Subject: Fwd: API rate limits
Date: Mon, 13 Jan 2025 09:00:00 +0000
Message-ID: <tb-fwd-0007@handoff-demo.com>
User-Agent: Mozilla Thunderbird
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 8bit
""",
    """



-------- Forwarded Message --------
Subject: \tAPI rate limits
Date: \tSun, 12 Jan 2025 21:40:13 +0100
From: \tKlaus Meier <k.meier@initech.de>
To: \tDana Lee <dana@handoff-demo.com>



Hello Dana,

our integration hits 429 errors since Friday. Could you raise our API rate limit to 600 requests per minute?

--
Klaus Meier
Initech GmbH
""",
    {
        "status": "accepted",
        "sender": "k.meier@initech.de",
        "forwarded_by": "dana@handoff-demo.com",
        "subject": "API rate limits",
        "sent_at": "2025-01-12T21:40:13+01:00",
        "text_contains": ["raise our API rate limit"],
        "text_excludes": ["Initech GmbH"],
    },
)

mail(
    "nested_forward.eml",
    """
From: Sam Rep <sam@handoff-demo.com>
To: tasks@handoff.local
Subject: Fwd: FW: Security questionnaire
Date: Wed, 15 Jan 2025 10:00:00 +0000
Message-ID: <nested-0008@handoff-demo.com>
Content-Type: text/plain; charset=utf-8
""",
    """Adding to the queue.

---------- Forwarded message ---------
From: Dana Lee <dana@handoff-demo.com>
Date: Tue, Jan 14, 2025 at 6:00 PM
Subject: FW: Security questionnaire
To: Sam Rep <sam@handoff-demo.com>


Sam, this one is yours.

-----Original Message-----
From: Maria Garcia <maria.garcia@umbrella-health.com>
Sent: Tuesday, January 14, 2025 9:30 AM
To: Dana Lee <dana@handoff-demo.com>
Subject: Security questionnaire

Dear Dana,

please complete the attached vendor security questionnaire by January 31.

Kind regards,
Maria Garcia
""",
    {
        "status": "accepted",
        "sender": "maria.garcia@umbrella-health.com",
        "forwarded_by": "sam@handoff-demo.com",
        "subject": "Security questionnaire",
        "sent_at": "2025-01-14T09:30:00+00:00",
        "hops": 2,
        "text_contains": ["complete the attached vendor security questionnaire", "Sam, this one is yours"],
        "text_excludes": ["Kind regards"],
    },
)

attached = (
    "From: Ken Tanaka <ken.tanaka@hooli.co.jp>\r\nTo: sam@handoff-demo.com\r\nSubject: License renewal\r\n"
    "Date: Thu, 16 Jan 2025 11:00:00 +0900\r\nMessage-ID: <attached-inner@hooli.co.jp>\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    "Hello Sam,\r\n\r\nPlease send the renewal quote for 250 seats before the end of the month.\r\n\r\nKen\r\n"
)
mail(
    "forward_as_attachment.eml",
    """
From: Sam Rep <sam@handoff-demo.com>
To: tasks@handoff.local
Subject: FW: License renewal
Date: Thu, 16 Jan 2025 09:00:00 +0000
Message-ID: <fwd-attach-0009@handoff-demo.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"
""",
    "--outer\nContent-Type: text/plain; charset=utf-8\n\n\n--outer\nContent-Type: message/rfc822\n"
    'Content-Disposition: attachment; filename="License renewal.eml"\n\n'
    + attached.replace("\r\n", "\n")
    + "\n--outer--\n",
    {
        "status": "accepted",
        "sender": "ken.tanaka@hooli.co.jp",
        "forwarded_by": "sam@handoff-demo.com",
        "subject": "License renewal",
        "sent_at": "2025-01-16T11:00:00+09:00",
        "text_contains": ["renewal quote for 250 seats"],
    },
)

# --- charsets and encodings -----------------------------------------------------------------------------------------

mail(
    "big5_direct.eml",
    f"""
From: {Header("陳大文", "big5").encode()} <david.chan@formosa-soft.com.tw>
To: tasks@handoff.local
Subject: {Header("系統上線時間確認", "big5").encode()}
Date: Fri, 17 Jan 2025 10:30:00 +0800
Message-ID: <big5-0010@formosa-soft.com.tw>
MIME-Version: 1.0
Content-Type: text/plain; charset="big5"
Content-Transfer-Encoding: base64
""",
    b64("您好，\n\n請於下週三前確認系統上線時間，並提供教育訓練的議程。\n\n陳大文\n", "big5"),
    {
        "status": "accepted",
        "sender": "david.chan@formosa-soft.com.tw",
        "sender_name": "陳大文",
        "subject": "系統上線時間確認",
        "text_contains": ["請於下週三前確認系統上線時間"],
    },
)

mail(
    "iso2022jp_direct.eml",
    f"""
From: {Header("佐藤花子", "iso-2022-jp").encode()} <hanako.sato@hooli.co.jp>
To: tasks@handoff.local
Subject: {Header("見積書の送付のお願い", "iso-2022-jp").encode()}
Date: Mon, 20 Jan 2025 09:15:00 +0900
Message-ID: <jis-0011@hooli.co.jp>
MIME-Version: 1.0
Content-Type: text/plain; charset=ISO-2022-JP
Content-Transfer-Encoding: 7bit
""",
    "お世話になっております。\n\n今週金曜日までに見積書を送付していただけますでしょうか。\n\n佐藤\n".replace(
        "\n", "\r\n"
    ).encode("iso-2022-jp"),
    {
        "status": "accepted",
        "sender": "hanako.sato@hooli.co.jp",
        "sender_name": "佐藤花子",
        "subject": "見積書の送付のお願い",
        "text_contains": ["今週金曜日までに見積書を送付していただけますでしょうか"],
    },
)

mail(
    "wrong_charset_declared_latin1_is_utf8.eml",
    """
From: Wei Zhou <zhou.wei@huaxin-tech.cn>
To: tasks@handoff.local
Subject: Re: =?utf-8?Q?=E6=8E=A5=E5=8F=A3=E6=96=87=E6=A1=A3?=
Date: Tue, 21 Jan 2025 08:00:00 +0800
Message-ID: <wrong-charset-0012@huaxin-tech.cn>
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: 8bit
""",
    "请把接口文档的最新版本发给我们，谢谢。\n".replace("\n", "\r\n").encode("utf-8"),
    {
        "status": "accepted",
        "sender": "zhou.wei@huaxin-tech.cn",
        "subject": "Re: 接口文档",
        "text_contains": ["请把接口文档的最新版本发给我们"],
    },
)

mail(
    "missing_charset_gbk.eml",
    """
From: zhao@huaxin-tech.cn
To: tasks@handoff.local
Subject: =?GBK?B?x+u4/NDC0OjH8w==?=
Date: Wed, 22 Jan 2025 16:00:00 +0800
Message-ID: <nocharset-0013@huaxin-tech.cn>
Content-Type: text/plain
Content-Transfer-Encoding: 8bit
""",
    "请更新需求文档，并在周四的会议上演示新的报表功能。我们希望尽快看到进展。\n".replace("\n", "\r\n").encode("gbk"),
    {
        "status": "accepted",
        "sender": "zhao@huaxin-tech.cn",
        "subject": "请更新需求",
        "text_contains": ["请更新需求文档"],
    },
)

mail(
    "rfc2047_and_raw_8bit_headers.eml",
    """
From: Zoë Müller <zoe.mueller@initech.de>
To: =?iso-8859-1?Q?Tasks_=C4ndern?= <tasks@handoff.local>
Subject: =?iso-8859-1?Q?=C4nderung_der?=
 =?iso-8859-1?Q?_Liefertermine?=
Date: Thu, 23 Jan 2025 07:45:00 +0100
Message-ID: <rfc2047-0014@initech.de>
Content-Type: text/plain; charset=utf-8
""",
    "Hallo,\n\nbitte schickt uns bis Montag den neuen Lieferplan.\n\nViele Grüße\nZoë\n",
    {
        "status": "accepted",
        "sender": "zoe.mueller@initech.de",
        "sender_name": "Zoë Müller",
        "subject": "Änderung der Liefertermine",
        "text_contains": ["bitte schickt uns bis Montag den neuen Lieferplan"],
    },
)

# --- replies, signatures, attachments -------------------------------------------------------------------------------

mail(
    "reply_quote_signature.eml",
    """
From: Alice Chen <alice.chen@acme-corp.com>
To: tasks@handoff.local
Subject: Re: Website relaunch: next steps
Date: Fri, 10 Jan 2025 09:00:00 -0800
Message-ID: <reply-0015@acme-corp.com>
In-Reply-To: <CAGmail-fwd-0001@mail.gmail.com>
References: <CAGmail-fwd-0001@mail.gmail.com>
Content-Type: text/plain; charset=utf-8
""",
    """Thanks for the timeline. One more thing: please move the launch review to Thursday.

--
Alice Chen | Head of Digital | Acme Corp
This email and any attachments are confidential.

On Thu, Jan 9, 2025 at 5:00 PM Sam Rep <sam@handoff-demo.com>
wrote:
> Hi Alice, the timeline is attached.
>
> Sam
""",
    {
        "status": "accepted",
        "sender": "alice.chen@acme-corp.com",
        "forwarded_by": None,
        "subject": "Re: Website relaunch: next steps",
        "text_contains": ["please move the launch review to Thursday"],
        "text_excludes": ["the timeline is attached", "Head of Digital"],
        "quoted_contains": ["the timeline is attached"],
    },
)

mail(
    "outlook_reply_not_forward.eml",
    """
From: Bob Miller <bob.miller@globex.com>
To: tasks@handoff.local
Subject: RE: Invoice discrepancy
Date: Thu, 9 Jan 2025 10:00:00 -0500
Message-ID: <reply-outlook-0016@globex.com>
Content-Type: text/plain; charset=utf-8
""",
    """Thanks Sam. Please also add the PO number to the corrected invoice.

Bob

________________________________
From: Sam Rep <sam@handoff-demo.com>
Sent: Wednesday, January 8, 2025 4:00 PM
To: Bob Miller <bob.miller@globex.com>
Subject: RE: Invoice discrepancy

We are fixing it.
""",
    {
        "status": "accepted",
        "sender": "bob.miller@globex.com",
        "forwarded_by": None,
        "text_contains": ["add the PO number"],
        "text_excludes": ["We are fixing it"],
    },
)

winmail = b"\x78\x9f\x3e\x22" + bytes(range(256)) * 4
mail(
    "winmail_dat.eml",
    """
From: Peter Novak <peter.novak@umbrella-health.com>
To: tasks@handoff.local
Subject: Updated requirements
Date: Fri, 24 Jan 2025 13:00:00 +0100
Message-ID: <tnef-0017@umbrella-health.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="tnefboundary"
""",
    "--tnefboundary\nContent-Type: text/plain; charset=us-ascii\n\n"
    "Please review the updated requirements in the attachment and confirm the scope by Tuesday.\n\n"
    '--tnefboundary\nContent-Type: application/ms-tnef; name="winmail.dat"\nContent-Transfer-Encoding: base64\n'
    'Content-Disposition: attachment; filename="winmail.dat"\n\n'
    + base64.encodebytes(winmail).decode("ascii")
    + "\n--tnefboundary--\n",
    {
        "status": "accepted",
        "sender": "peter.novak@umbrella-health.com",
        "text_contains": ["confirm the scope by Tuesday"],
        "attachments": [{"filename": "winmail.dat", "content_type": "application/ms-tnef", "size": len(winmail)}],
    },
)

pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
mail(
    "attachments_rfc2231.eml",
    """
From: Wang Fang <wangfang@huaxin-tech.cn>
To: tasks@handoff.local
Subject: Contract draft
Date: Mon, 27 Jan 2025 09:00:00 +0800
Message-ID: <attach-0018@huaxin-tech.cn>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="mix"
""",
    '--mix\nContent-Type: multipart/alternative; boundary="alt"\n\n'
    "--alt\nContent-Type: text/plain; charset=utf-8\n\nPlease sign the contract draft and return it by Feb 3.\n"
    "--alt\nContent-Type: text/html; charset=utf-8\n\n<p>Please sign the contract draft and return it by Feb 3.</p>\n"
    "--alt--\n"
    "--mix\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n"
    "Content-Disposition: attachment; filename*=UTF-8''%E5%90%88%E5%90%8C%E8%8D%89%E6%A1%88.pdf\n\n"
    + base64.encodebytes(pdf).decode("ascii")
    + "--mix\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n"
    'Content-Disposition: inline; filename="=?utf-8?B?5Zu+54mHLnBuZw==?="\nContent-ID: <img1>\n\n'
    + base64.encodebytes(b"\x89PNG\r\n\x1a\n").decode("ascii")
    + "--mix--\n",
    {
        "status": "accepted",
        "sender": "wangfang@huaxin-tech.cn",
        "text_contains": ["Please sign the contract draft and return it by Feb 3."],
        "text_excludes": ["<p>"],
        "attachments": [
            {"filename": "合同草案.pdf", "content_type": "application/pdf", "size": len(pdf)},
            {"filename": "图片.png", "content_type": "image/png", "size": 8},
        ],
    },
)

# --- must be rejected -----------------------------------------------------------------------------------------------

mail(
    "auto_reply_ooo.eml",
    """
From: Alice Chen <alice.chen@acme-corp.com>
To: tasks@handoff.local
Subject: Out of Office: Website relaunch
Date: Mon, 13 Jan 2025 08:00:00 -0800
Message-ID: <ooo-0019@acme-corp.com>
Auto-Submitted: auto-replied
Content-Type: text/plain; charset=utf-8
""",
    "I am out of the office until January 20 and will reply when I return.\n",
    {"status": "rejected", "reason_contains": "auto-reply"},
)

mail(
    "auto_reply_zh.eml",
    """
From: =?UTF-8?B?546L6Iqz?= <wangfang@huaxin-tech.cn>
To: tasks@handoff.local
Subject: =?UTF-8?B?6Ieq5Yqo5Zue5aSNOiDpobnnm67ov5vluqY=?=
Date: Tue, 14 Jan 2025 08:00:00 +0800
Message-ID: <ooo-zh-0020@huaxin-tech.cn>
X-Autoreply: yes
Content-Type: text/plain; charset=utf-8
""",
    "您好，我正在休假，1月20日返回。\n",
    {"status": "rejected", "reason_contains": "auto-reply"},
)

mail(
    "dsn_bounce.eml",
    """
From: Mail Delivery System <MAILER-DAEMON@mx.handoff-demo.com>
To: tasks@handoff.local
Subject: Undelivered Mail Returned to Sender
Date: Wed, 15 Jan 2025 12:00:00 +0000
Message-ID: <dsn-0021@mx.handoff-demo.com>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="dsn"
""",
    "--dsn\nContent-Type: text/plain\n\nThis is the mail system. Your message could not be delivered.\n"
    "--dsn\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.handoff-demo.com\n\n"
    "Final-Recipient: rfc822; nobody@acme-corp.com\nAction: failed\nStatus: 5.1.1\n"
    "--dsn\nContent-Type: text/rfc822-headers\n\nFrom: tasks@handoff.local\nSubject: hello\n--dsn--\n",
    {"status": "rejected", "reason_contains": "bounce"},
)

mail(
    "mail_loop.eml",
    """
From: Sam Rep <sam@handoff-demo.com>
To: tasks@handoff.local
Subject: Re: Task digest
Date: Wed, 15 Jan 2025 12:30:00 +0000
Message-ID: <loop-0022@handoff-demo.com>
X-Loop: tasks@handoff.local
Content-Type: text/plain
""",
    "Please do the thing in the digest.\n",
    {"status": "rejected", "reason_contains": "loop"},
)

mail(
    "bulk_newsletter.eml",
    """
From: News <news@vendor-updates.com>
To: tasks@handoff.local
Subject: Our January product update
Date: Wed, 15 Jan 2025 12:30:00 +0000
Message-ID: <bulk-0023@vendor-updates.com>
Precedence: bulk
Content-Type: text/html
""",
    "<h1>New features</h1><p>Please upgrade today!</p>",
    {"status": "bulk", "reason_contains": "bulk: Precedence: bulk"},
)

CASES["garbage_bytes.eml"] = bytes((i * 37 + 11) % 256 for i in range(3000))
EXPECTED["garbage_bytes.eml"] = {"status": "rejected", "reason_contains": "not an email"}
CASES["empty.eml"] = b""
EXPECTED["empty.eml"] = {"status": "rejected", "reason_contains": "not an email"}

mail(
    "truncated_multipart_bad_base64.eml",
    """
From: Ivan Petrov <ivan@umbrella-health.com>
To: tasks@handoff.local
Subject: Access request
Date: Thu, 16 Jan 2025 12:30:00 +0300
Message-ID: <truncated-0024@umbrella-health.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="never-closed"
""",
    "--never-closed\nContent-Type: text/plain; charset=utf-8\n\nPlease create VPN accounts for our two new engineers.\n"
    "--never-closed\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nQUJD!!!RE*&^Vg\n",
    {"status": "accepted", "sender": "ivan@umbrella-health.com", "text_contains": ["create VPN accounts"]},
)

# --- an mbox with a repeat inside (the IMAP "fires twice" case, as files) -------------------------------------------

NOTES = {
    "kickoff_notes.md": (
        "# Kickoff – Acme website relaunch\n\nAttendees: Alice Chen, Sam Rep, Priya Shah\n\n"
        "## Decisions\n- Launch moves to **March 3**\n\n## Action items\n"
        "- [ ] @Priya review the SSO configuration by Friday\n- [ ] Sam to send the revised SOW by next Tuesday\n"
    ),
    "standup.vtt": (
        "WEBVTT\n\n1\n00:00:01.000 --> 00:00:04.500\n<v Priya Shah>I will finish the data export by Wednesday.</v>\n\n"
        "2\n00:00:05.000 --> 00:00:09.000\n<v Sam Rep>Priya, please also send Acme the field mapping\n\n"
        "3\n00:00:09.000 --> 00:00:11.000\n<v Sam Rep>before the Thursday call.</v>\n\n"
        "NOTE this cue has no speaker\n\n00:00:12.000 --> 00:00:14.000\nLet's wrap up.\n"
    ),
    "call_notes_zh.txt": "客户电话会议纪要\n\n参会人员：王芳，李明\n\n1. 李明负责在下周五前提交项目计划书。\n2. 王芳确认预算。\n",
}


def main() -> None:
    for name, data in CASES.items():
        (HERE / name).write_bytes(data)
    for name, text in NOTES.items():
        (HERE / name).write_text(text, encoding="utf-8")
    box_path = HERE / "exported.mbox"
    box_path.unlink(missing_ok=True)
    box = mailbox.mbox(box_path)
    for name in ("reply_quote_signature.eml", "big5_direct.eml", "reply_quote_signature.eml"):
        message = mailbox.mboxMessage(CASES[name])
        message.set_from("MAILER-DAEMON", time.gmtime(1736150400))  # a fixed From_ line: the file never changes
        box.add(message)
    box.flush()
    box.close()
    (HERE / "expected.json").write_text(json.dumps(EXPECTED, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
