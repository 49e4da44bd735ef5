#!/usr/bin/env python3
"""bench/disks: writes a sysfs/dev tree of N SAS disks in 24-slot SES
enclosures (the layout of tests/data/hw/make_jbod_tree.py, scaled) and the
matching `lsblk -J -b -O` JSON.   make_tree.py ROOT N
"""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tests/data/hw"))
from treelib import Tree  # noqa: E402

root, n = sys.argv[1], int(sys.argv[2])
shutil.rmtree(root, ignore_errors=True)


_tree = Tree(root)
write, link, rel = _tree.write, _tree.link, _tree.rel


def name_of(i):  # sda..sdz, sdaa..
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(ord("a") + r) + s
    return "sd" + s


devices = []
slots_per = 24
for i in range(n):
    encl, slot = divmod(i, slots_per)
    name = name_of(i)
    wwn = f"5000c500{i:08x}"
    dev = f"sys/devices/pci0000:00/0000:00:03.0/0000:03:00.0/host{encl}/port-{encl}:0/expander-{encl}:0/port-{encl}:0:{slot}/end_device-{encl}:0:{slot}/target{encl}:0:{slot}/{encl}:0:{slot}:0"
    write(f"{dev}/vendor", "SEAGATE ")
    write(f"{dev}/model", "ST4000NM0025    ")
    write(f"{dev}/wwid", f"naa.{wwn}")
    blk = f"{dev}/block/{name}"
    write(f"{blk}/size", "7814037168")
    write(f"{blk}/queue/rotational", "1")
    link(f"{blk}/device", "../..")
    link(f"sys/block/{name}", rel("sys/block", blk))
    write(f"dev/{name}", "")
    link(f"dev/disk/by-id/wwn-0x{wwn}", f"../../{name}")
    link(f"dev/disk/by-path/pci-0000:03:00.0-sas-exp{encl}-phy{slot}-lun-0", f"../../{name}")
    devices.append({"kname": name, "name": name, "path": f"/dev/{name}", "type": "disk", "size": 4000787030016,
                    "rota": True, "serial": f"ZC{i:06d}", "wwn": f"0x{wwn}", "model": "ST4000NM0025",
                    "vendor": "SEAGATE ", "tran": "sas", "hctl": f"{encl}:0:{slot}:0"})
    edir = f"sys/devices/pci0000:00/0000:00:03.0/0000:03:00.0/host{encl}/port-{encl}:0/expander-{encl}:0/port-{encl}:0:99/end_device-{encl}:0:99/target{encl}:0:99/{encl}:0:99:0"
    comp = f"{edir}/enclosure/{encl}:0:99:0/Slot{slot + 1:02}"
    write(f"{comp}/type", "array device")
    write(f"{comp}/slot", str(slot + 1))
    write(f"{comp}/fault", "0")
    write(f"{comp}/locate", "0")
    write(f"{comp}/status", "OK")
    link(f"{comp}/device", rel(comp, dev))
    if slot == 0:
        write(f"{edir}/vendor", "LSI     ")
        write(f"{edir}/model", "SAS2X28         ")
        write(f"{edir}/enclosure/{encl}:0:99:0/id", f"0x500605b0000000{encl:02x}")
        link(f"sys/class/enclosure/{encl}:0:99:0", rel("sys/class/enclosure", f"{edir}/enclosure/{encl}:0:99:0"))
with open(os.path.join(root, "lsblk.json"), "w") as f:
    json.dump({"blockdevices": devices}, f, indent=3)
