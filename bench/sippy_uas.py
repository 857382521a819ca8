"""The peer of bench/sip_bench.py: sippy 2.5.0 answering SIPp's `uac` scenario the way tongdai's 9196
does (200 OK with an SDP answer, BYE -> 200). Run with a Python that has sippy installed:

    /tmp/sippyvenv/bin/python bench/sippy_uas.py PORT
"""

import sys

from sippy.Core.EventDispatcher import ED2
from sippy.MsgBody import MsgBody
from sippy.SipContact import SipContact
from sippy.SipLogger import SipLogger
from sippy.SipTransactionManager import SipTransactionManager
from sippy.Udp_server import Udp_server_opts

SDP = ("v=0\r\no=sippy 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=inactive\r\n")


def req_cb(req, t):
    method = req.getMethod()
    if method == "INVITE":
        resp = req.genResponse(200, "OK", body=MsgBody(SDP))
        resp.getHFBody("to").genTag()
        resp.appendHeader(_contact())
        return (resp, None, None)
    if method in ("BYE", "OPTIONS"):
        return (req.genResponse(200, "OK"), None, None)
    return (req.genResponse(501, "Not Implemented"), None, None)


def _contact():
    from sippy.SipHeader import SipHeader

    return SipHeader(name="contact", body=SipContact(body=f"<sip:9196@127.0.0.1:{PORT}>"))


if __name__ == "__main__":
    PORT = int(sys.argv[1])
    Udp_server_opts.nworkers = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    gc = {"_sip_address": "127.0.0.1", "_sip_port": PORT, "_sip_logger": SipLogger("sippy_uas")}
    SipTransactionManager(gc, req_cb)
    print("ready", flush=True)
    ED2.loop()
