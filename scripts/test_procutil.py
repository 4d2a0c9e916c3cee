"""Unit tests of procutil's /proc parsers, on text copied from the /proc files of a Linux 6.18
machine (2 cores, 23 GiB). Stdlib only: python3 -m unittest discover -s scripts -p 'test_*.py'."""

import os
import unittest

import procutil
from procutil import (parse_file_nr, parse_listen_queues, parse_meminfo, parse_net_tcp,
                      parse_netstat, parse_pid_stat, parse_port_range, parse_slabinfo,
                      parse_sockstat, parse_stat_busy, parse_statm)

MEMINFO = """\
MemTotal:       24683584 kB
MemFree:        22421292 kB
MemAvailable:   23822884 kB
Buffers:            7512 kB
Cached:          1592032 kB
SwapCached:            0 kB
Active:           592412 kB
Inactive:        1500200 kB
Active(anon):        100 kB
Inactive(anon):   502324 kB
Active(file):     592312 kB
Inactive(file):   997876 kB
Unevictable:       11264 kB
Mlocked:           10232 kB
SwapTotal:             0 kB
SwapFree:              0 kB
Zswap:                 0 kB
Zswapped:              0 kB
Dirty:             79460 kB
Writeback:             0 kB
AnonPages:        504452 kB
Mapped:           164244 kB
Shmem:              9356 kB
KReclaimable:      46432 kB
Slab:              72088 kB
SReclaimable:      46432 kB
SUnreclaim:        25656 kB
KernelStack:        1668 kB
PageTables:         3896 kB
SecPageTables:         0 kB
NFS_Unstable:          0 kB
Bounce:                0 kB
WritebackTmp:          0 kB
CommitLimit:    12341792 kB
Committed_AS:     135448 kB
VmallocTotal:   34359738367 kB
VmallocUsed:       14444 kB
VmallocChunk:          0 kB
Percpu:              792 kB
AnonHugePages:         0 kB
ShmemHugePages:        0 kB
ShmemPmdMapped:        0 kB
FileHugePages:     57344 kB
FilePmdMapped:         0 kB
Balloon:               0 kB
HugePages_Total:       0
HugePages_Free:        0
HugePages_Rsvd:        0
HugePages_Surp:        0
Hugepagesize:       2048 kB
Hugetlb:               0 kB
DirectMap4k:       26624 kB
DirectMap2M:     2070528 kB
DirectMap1G:    25165824 kB
"""

SLABINFO = """\
slabinfo - version: 2.1
# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>
btrfs_delayed_node      0      0    312   13    1 : tunables    0    0    0 : slabdata      0      0      0
TCP                   92    156   2368   13    8 : tunables    0    0    0 : slabdata     12     12      0
sock_inode_cache     229    380    832   19    4 : tunables    0    0    0 : slabdata     20     20      0
filp                 651    651    192   21    1 : tunables    0    0    0 : slabdata     31     31      0
dentry             20516  20748    192   21    1 : tunables    0    0    0 : slabdata    988    988      0
"""

PID1_STAT = ("1 (process_api) S 0 0 0 0 -1 4194560 64679 11617849 0 2414 2730 6567 80273 21091 10 -10 "
             "14 0 10 42102784 2536 18446744073709551615 1 1 0 0 0 0 0 4096 1256 0 0 0 17 0 0 0 0 0 "
             "0 0 0 0 0 0 0 0 0\n")
CAT_STAT = ("28602 (cat) R 28591 28591 19209 0 -1 4194304 101 0 0 0 0 0 0 0 20 0 1 0 4591455 "
            "3133440 415 18446744073709551615 93989674184704 93989674204585 140721723054928 0 0 0 "
            "0 0 0 0 0 0 17 1 0 0 0 0 0 93989674220592 93989674222208 93990345523200 "
            "140721723063000 140721723063020 140721723063020 140721723064299 0\n")

STATM = "765 440 412 5 0 123 0\n"

STAT = """\
cpu  105402 0 29834 9029927 1126 0 6108 13333 0 0
cpu0 49257 0 14911 4518461 576 0 3190 6362 0 0
cpu1 56145 0 14923 4511466 549 0 2918 6970 0 0
intr 3133279 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 2 2 10 0 2 0 0 9181 214 0 759
ctxt 10876543
btime 1790000000
processes 28602
procs_running 1
procs_blocked 0
"""

SOCKSTAT = """\
sockets: used 13
TCP: inuse 1 orphan 0 tw 1 alloc 1 mem 151
UDP: inuse 0 mem 0
UDPLITE: inuse 0
RAW: inuse 0
FRAG: inuse 0 memory 0
"""

SOCKSTAT6 = """\
TCP6: inuse 0
UDP6: inuse 0
UDPLITE6: inuse 0
RAW6: inuse 0
FRAG6: inuse 0 memory 0
"""

NETSTAT = """\
TcpExt: SyncookiesSent SyncookiesRecv SyncookiesFailed EmbryonicRsts PruneCalled RcvPruned OfoPruned OutOfWindowIcmps LockDroppedIcmps ArpFilter TW TWRecycled TWKilled PAWSActive PAWSEstab BeyondWindow TSEcrRejected PAWSOldAck PAWSTimewait DelayedACKs DelayedACKLocked DelayedACKLost ListenOverflows ListenDrops TCPHPHits TCPPureAcks TCPHPAcks TCPRenoRecovery TCPSackRecovery TCPSACKReneging TCPSACKReorder TCPRenoReorder TCPTSReorder TCPFullUndo TCPPartialUndo TCPDSACKUndo TCPLossUndo TCPLostRetransmit TCPRenoFailures TCPSackFailures TCPLossFailures TCPFastRetrans TCPSlowStartRetrans TCPTimeouts TCPLossProbes TCPLossProbeRecovery TCPRenoRecoveryFail TCPSackRecoveryFail TCPRcvCollapsed TCPBacklogCoalesce TCPDSACKOldSent TCPDSACKOfoSent TCPDSACKRecv TCPDSACKOfoRecv TCPAbortOnData TCPAbortOnClose TCPAbortOnMemory TCPAbortOnTimeout TCPAbortOnLinger TCPAbortFailed TCPMemoryPressures TCPMemoryPressuresChrono TCPSACKDiscard TCPDSACKIgnoredOld TCPDSACKIgnoredNoUndo TCPSpuriousRTOs TCPMD5NotFound TCPMD5Unexpected TCPMD5Failure TCPSackShifted TCPSackMerged TCPSackShiftFallback TCPBacklogDrop PFMemallocDrop TCPMinTTLDrop TCPDeferAcceptDrop IPReversePathFilter TCPTimeWaitOverflow TCPReqQFullDoCookies TCPReqQFullDrop TCPRetransFail TCPRcvCoalesce TCPOFOQueue TCPOFODrop TCPOFOMerge TCPChallengeACK TCPSYNChallenge TCPFastOpenActive TCPFastOpenActiveFail TCPFastOpenPassive TCPFastOpenPassiveFail TCPFastOpenListenOverflow TCPFastOpenCookieReqd TCPFastOpenBlackhole TCPSpuriousRtxHostQueues BusyPollRxPackets TCPAutoCorking TCPFromZeroWindowAdv TCPToZeroWindowAdv TCPWantZeroWindowAdv TCPSynRetrans TCPOrigDataSent TCPHystartTrainDetect TCPHystartTrainCwnd TCPHystartDelayDetect TCPHystartDelayCwnd TCPACKSkippedSynRecv TCPACKSkippedPAWS TCPACKSkippedSeq TCPACKSkippedFinWait2 TCPACKSkippedTimeWait TCPACKSkippedChallenge TCPWinProbe TCPKeepAlive TCPMTUPFail TCPMTUPSuccess TCPDelivered TCPDeliveredCE TCPAckCompressed TCPZeroWindowDrop TCPRcvQDrop TCPWqueueTooBig TCPFastOpenPassiveAltKey TcpTimeoutRehash TcpDuplicateDataRehash TCPDSACKRecvSegs TCPDSACKIgnoredDubious TCPMigrateReqSuccess TCPMigrateReqFailure TCPPLBRehash TCPAORequired TCPAOBad TCPAOKeyNotFound TCPAOGood TCPAODroppedIcmps
TcpExt: 0 0 0 0 0 0 0 0 0 0 7319 0 0 0 0 0 0 0 202 5038 1 6 124 124 2620 321697 96288 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 68 4 0 0 0 0 500 6 0 2 0 194380 78 0 0 0 0 0 0 0 0 2 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 653 0 0 0 0 0 0 0 0 0 0 0 0 6 0 26 6 8 238 62 246444 0 0 0 0 0 0 4 0 0 0 8 0 0 0 449429 0 0 0 0 0 0 68 0 2 0 0 0 0 0 0 0 0 0
IpExt: InNoRoutes InTruncatedPkts InMcastPkts OutMcastPkts InBcastPkts OutBcastPkts InOctets OutOctets InMcastOctets OutMcastOctets InBcastOctets OutBcastOctets InCsumErrors InNoECTPkts InECT1Pkts InECT0Pkts InCEPkts ReasmOverlaps
IpExt: 0 0 0 0 0 0 1079316950 1060554940 0 0 0 0 0 1267407 0 0 0 0
"""

SNMP = """\
Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownProtos InDiscards InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout ReasmReqds ReasmOKs ReasmFails FragOKs FragFails FragCreates OutTransmits
Ip: 2 64 1267411 0 0 0 0 0 1267411 1267354 0 0 0 0 0 0 0 0 0 1267354
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors
Tcp: 1 200 120000 -1 203183 203062 24 391535 0 1267337 1267280 65 0 196372 0
"""

# The kernel pads each line of /proc/net/tcp with spaces: they are kept.
NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     
   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1597 1 0000000027783839 100 0 0 10 0                      
   1: 0100007F:A66B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3492733 1 000000000d7190c5 100 0 0 10 0                   
   2: 0100007F:8DE9 0100007F:A5CE 06 00000000:00000000 03:00000774 00000000     0        0 0 3 00000000012345ba                                      
   3: 0100007F:AFC0 0100007F:A66B 01 00000000:00000000 00:00000000 00000000     0        0 3492734 2 0000000030b64b02 20 0 0 10 -1                   
   4: 0100007F:A66B 0100007F:AFC0 01 00000000:00000000 00:00000000 00000000     0        0 3492735 1 00000000e5cd088b 20 0 0 10 -1                   
"""

# A listener on 198.18.0.1:7000 (backlog 16) that never accepts, with 17 connections waiting
# (rx_queue 0x11), and two of them.
NET_TCP_FULL_LISTENER = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     
   0: 010012C6:1B58 00000000:0000 0A 00000000:00000011 00:00000000 00000000     0        0 101575649 18 000000001509d515 100 0 0 10 0                
   1: 010012C6:1B58 010012C6:A0AA 01 00000000:00000000 00:00000000 00000000     0        0 0 1 00000000b789d155 20 0 0 10 -1                         
   2: 010012C6:1B58 010012C6:A0E2 01 00000000:00000000 00:00000000 00000000     0        0 0 1 00000000c90a784c 20 0 0 10 -1                         
"""

FILE_NR = "481\t0\t2466116\n"
PORT_RANGE = "32768\t60999\n"


class MeminfoTest(unittest.TestCase):
    def test_fields_in_kb(self):
        m = parse_meminfo(MEMINFO)
        self.assertEqual(m["MemTotal"], 24683584)
        self.assertEqual(m["Slab"], 72088)
        self.assertEqual(m["Active(anon)"], 100)
        self.assertEqual(m["VmallocTotal"], 34359738367)
        self.assertEqual(m["HugePages_Total"], 0)  # a count, no unit
        self.assertEqual(len(m), 54)

    def test_what_the_readers_derive(self):
        m = parse_meminfo(MEMINFO)
        self.assertEqual(m["Slab"] * 1024, 73818112)  # meminfo_slab(), in bytes
        self.assertEqual(m["MemTotal"] // 1048576, 23)  # machine(), in GiB

    def test_empty(self):
        self.assertEqual(parse_meminfo(""), {})


class SlabinfoTest(unittest.TestCase):
    def test_whole_slabs(self):
        caches = parse_slabinfo(SLABINFO, page=4096)
        self.assertEqual(caches["TCP"], 12 * 8 * 4096)  # ceil(156 / 13) slabs of 8 pages
        self.assertEqual(caches["sock_inode_cache"], 20 * 4 * 4096)
        self.assertEqual(caches["filp"], 31 * 4096)
        self.assertEqual(caches["dentry"], 988 * 4096)
        self.assertEqual(caches["btrfs_delayed_node"], 0)
        self.assertEqual(len(caches), 5)  # the two header lines are skipped

    def test_partial_slab_counts_whole(self):
        line = "kmalloc-64          1      1     64   64    1 : tunables 0 0 0 : slabdata 1 1 0\n"
        self.assertEqual(parse_slabinfo("h\nh\n" + line, page=4096), {"kmalloc-64": 4096})

    def test_zero_objects_per_slab(self):
        line = "odd 0 5 64 0 1 : tunables 0 0 0 : slabdata 0 0 0\n"
        self.assertEqual(parse_slabinfo("h\nh\n" + line, page=4096), {"odd": 0})


class PidStatTest(unittest.TestCase):
    def test_pid_1(self):
        self.assertEqual(parse_pid_stat(PID1_STAT), (0, "process_api", 2730 + 6567, 10))

    def test_child(self):
        self.assertEqual(parse_pid_stat(CAT_STAT), (28591, "cat", 0, 4591455))

    def test_comm_with_spaces_and_parentheses(self):
        text = CAT_STAT.replace("(cat)", "(tmux: (a) b)")
        self.assertEqual(parse_pid_stat(text), (28591, "tmux: (a) b", 0, 4591455))


class StatmTest(unittest.TestCase):
    def test_pages(self):
        m = parse_statm(STATM)
        self.assertEqual(m["size"], 765)
        self.assertEqual(m["resident"], 440)
        self.assertEqual(m["shared"], 412)
        self.assertEqual(m["data"], 123)


class StatBusyTest(unittest.TestCase):
    def test_all_but_idle_and_iowait(self):
        # user 105402 + system 29834 + irq 0 + softirq 6108 + steal 13333
        self.assertEqual(parse_stat_busy(STAT), 105402 + 29834 + 6108 + 13333)


class NfConntrackStatTest(unittest.TestCase):
    TEXT = ("entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n"
            "000007d0  00000000 00000000 00000000 00000003 00000000 00000000 00000000 00000000 00000000 0000000a 00000000 00000000  00000000 00000000 00000000 00000000\n"
            "000007d0  00000000 00000000 00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000014 00000000 00000000  00000000 00000000 00000000 00000000\n")

    def test_sums_cpus_but_not_entries(self):
        st = procutil.parse_nf_conntrack_stat(self.TEXT)
        self.assertEqual(st["entries"], 2000)
        self.assertEqual(st["drop"], 30)
        self.assertEqual(st["invalid"], 4)
        self.assertEqual(st["search_restart"], 0)

    def test_empty(self):
        self.assertEqual(procutil.parse_nf_conntrack_stat(""), {})


class SockstatTest(unittest.TestCase):
    def test_v4(self):
        s = parse_sockstat(SOCKSTAT)
        self.assertEqual(s["TCP"], {"inuse": 1, "orphan": 0, "tw": 1, "alloc": 1, "mem": 151})
        self.assertEqual(s["sockets"], {"used": 13})
        self.assertEqual(s["UDP"], {"inuse": 0, "mem": 0})
        self.assertEqual(s["FRAG"], {"inuse": 0, "memory": 0})

    def test_v6(self):
        s = parse_sockstat(SOCKSTAT6)
        self.assertEqual(s["TCP6"], {"inuse": 0})
        self.assertNotIn("TCP", s)

    def test_no_tcp_line(self):
        self.assertEqual(parse_sockstat("").get("TCP", {}), {})


class NetstatTest(unittest.TestCase):
    def test_tcpext(self):
        n = parse_netstat(NETSTAT)
        self.assertEqual(set(n), {"TcpExt", "IpExt"})
        t = n["TcpExt"]
        self.assertEqual(t["ListenOverflows"], 124)
        self.assertEqual(t["ListenDrops"], 124)
        self.assertEqual(t["TW"], 7319)
        self.assertEqual(t["TCPAbortOnData"], 194380)
        self.assertEqual(t["TCPAbortOnClose"], 78)
        self.assertEqual(len(t), len(NETSTAT.splitlines()[0].split()) - 1)

    def test_ipext(self):
        self.assertEqual(parse_netstat(NETSTAT)["IpExt"]["InOctets"], 1079316950)

    def test_snmp_negative_value(self):
        n = parse_netstat(SNMP)
        self.assertEqual(n["Tcp"]["MaxConn"], -1)
        self.assertEqual(n["Tcp"]["ActiveOpens"], 203183)
        self.assertEqual(n["Ip"]["DefaultTTL"], 64)


class NetTcpTest(unittest.TestCase):
    def test_ports_and_states(self):
        self.assertEqual(parse_net_tcp(NET_TCP), [
            (2024, 0, 10),        # 0.0.0.0:2024 LISTEN
            (42603, 0, 10),       # 127.0.0.1:42603 LISTEN
            (36329, 42446, 6),    # TIME_WAIT
            (44992, 42603, 1),    # ESTABLISHED, the client's end
            (42603, 44992, 1),    # ESTABLISHED, the accepted end on the listener's port
        ])

    def test_header_only(self):
        self.assertEqual(parse_net_tcp(NET_TCP.splitlines()[0]), [])

    def test_listen_queues(self):
        self.assertEqual(parse_listen_queues(NET_TCP_FULL_LISTENER), {7000: 17})
        self.assertEqual(parse_listen_queues(NET_TCP), {2024: 0, 42603: 0})
        self.assertEqual(parse_listen_queues(NET_TCP.splitlines()[0]), {})


class SysctlTextTest(unittest.TestCase):
    def test_file_nr(self):
        self.assertEqual(parse_file_nr(FILE_NR), (481, 0, 2466116))

    def test_port_range(self):
        self.assertEqual(parse_port_range(PORT_RANGE), (32768, 60999))
        self.assertEqual(parse_port_range("1024\t65535\n"), (1024, 65535))


@unittest.skipUnless(os.path.exists("/proc/self/stat"), "no /proc here")
class ReadersOnThisMachineTest(unittest.TestCase):
    """The readers feed the live files to the parsers above."""

    def test_readers(self):
        self.assertGreater(procutil.meminfo_slab(), 0)
        self.assertGreaterEqual(procutil.tree_cpu_s([os.getpid()]), 0)
        self.assertGreater(procutil.tree_rss(os.getpid()), 0)
        self.assertIn(os.getpid(), procutil._proc_table())
        self.assertIn("GiB, Linux", procutil.machine())


if __name__ == "__main__":
    unittest.main()
