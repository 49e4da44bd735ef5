#!/usr/bin/env python3
"""Writes the recorded sysfs/dev tree tests/data/hw/sysfs/jbod (run from tests/data/hw).

Written from the kernel's documented layout, not captured from a machine:
Documentation/ABI/testing/sysfs-class-enclosure (enclosure components with
fault, locate, status, type, slot and the `device` link), the SCSI disk and
block attributes (size in 512-byte sectors, queue/rotational, device/{vendor,
model,wwid}), an mpt3sas SAS path (host/port/expander/end_device/target),
the NVMe block device below its PCI function and Documentation/ABI/testing/
sysfs-bus-pci (slots/N/{address,attention}), and udev's /dev/disk/by-id and
by-path links (60-persistent-storage.rules). The machine it pretends to be:
one HBA at 0000:03:00.0 with a 4-slot SES enclosure 0:0:12:0 (slots 1, 2 and
4 hold sda, sdb, sdc; slot 3 is empty; slot 2's fault LED and slot 4's locate
LED are on) and one NVMe drive (nvme0n1) in PCI hotplug slot 5 (0000:05:00).
All links are relative, so the tree works wherever it is checked out.
"""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from treelib import Tree  # noqa: E402

ROOT = "sysfs/jbod"
HBA = "devices/pci0000:00/0000:00:03.0/0000:03:00.0/host0/port-0:0/expander-0:0"


_tree = Tree(ROOT)
write, link, rel = _tree.write, _tree.link, _tree.rel


def scsi_dev(target):
    return f"sys/{HBA}/port-0:0:{target}/end_device-0:0:{target}/target0:0:{target}/0:0:{target}:0"


shutil.rmtree(ROOT, ignore_errors=True)
disks = [  # (target, name, slot, vendor, model, wwn, sectors, rotational, phy)
    (0, "sda", 1, "SEAGATE", "ST4000NM0025", "5000c500a1b2c3d4", 7814037168, 1, 0),
    (1, "sdb", 2, "SEAGATE", "ST4000NM0025", "5000c500a1b2c3e5", 7814037168, 1, 1),
    (2, "sdc", 4, "HGST", "HUSMM1680ASS204", "5000cca04e1f2a30", 1562824368, 0, 3),
]
for target, name, slot, vendor, model, wwn, sectors, rota, phy in disks:
    dev = scsi_dev(target)
    write(f"{dev}/vendor", vendor.ljust(8))
    write(f"{dev}/model", model.ljust(16))
    write(f"{dev}/wwid", f"naa.{wwn}")
    blk = f"{dev}/block/{name}"
    write(f"{blk}/size", str(sectors))
    write(f"{blk}/queue/rotational", str(rota))
    link(f"{blk}/device", "../..")
    link(f"sys/block/{name}", rel("sys/block", blk))
    write(f"dev/{name}", "")
    link(f"dev/disk/by-id/wwn-0x{wwn}", f"../../{name}")
    link(f"dev/disk/by-id/scsi-3{wwn}", f"../../{name}")
    link(f"dev/disk/by-path/pci-0000:03:00.0-sas-phy{phy}-lun-0", f"../../{name}")
    # sda carries a partition table (a pool made on OpenZFS with a whole disk).
    if name == "sda":
        write(f"{blk}/sda1/partition", "1")
        write(f"{blk}/sda1/size", str(sectors - 18432))
        write("dev/sda1", "")
        link(f"dev/disk/by-id/wwn-0x{wwn}-part1", "../../sda1")

encl_dev = scsi_dev(12)
encl = f"{encl_dev}/enclosure/0:0:12:0"
write(f"{encl_dev}/vendor", "LSI     ")
write(f"{encl_dev}/model", "SAS2X28         ")
write(f"{encl}/id", "0x500605b000000001")
write(f"{encl}/components", "4")
link(f"{encl}/device", "../..")
link("sys/class/enclosure/0:0:12:0", rel("sys/class/enclosure", encl))
occupant = {1: 0, 2: 1, 4: 2}
for slot in range(1, 5):
    comp = f"{encl}/Slot{slot:02}"
    write(f"{comp}/type", "array device")
    write(f"{comp}/slot", str(slot))
    write(f"{comp}/fault", "1" if slot == 2 else "0")
    write(f"{comp}/locate", "1" if slot == 4 else "0")
    write(f"{comp}/active", "0")
    write(f"{comp}/power_status", "on")
    write(f"{comp}/status", "OK" if slot in occupant else "not installed")
    if slot in occupant:
        link(f"{comp}/device", rel(comp, scsi_dev(occupant[slot])))
# A fan element: not a disk slot.
write(f"{encl}/Fan1/type", "cooling")
write(f"{encl}/Fan1/status", "OK")

# NVMe in PCI hotplug slot 5.
fn = "sys/devices/pci0000:00/0000:00:1c.0/0000:05:00.0"
ctrl = f"{fn}/nvme/nvme0"
write(f"{ctrl}/model", "SAMSUNG MZQL2960HCJR-00A07")
write(f"{ctrl}/serial", "S64FNE0R812345")
ns = f"{ctrl}/nvme0n1"
write(f"{ns}/size", "1875385008")
write(f"{ns}/queue/rotational", "0")
write(f"{ns}/wwid", "eui.36344630528123450025384500000001")
link(f"{ns}/device", "..")
link("sys/block/nvme0n1", rel("sys/block", ns))
write("sys/bus/pci/slots/5/address", "0000:05:00")
write("sys/bus/pci/slots/5/attention", "0")
write("sys/bus/pci/slots/5/power", "1")
write("sys/bus/pci/slots/6/address", "0000:06:00")  # an empty slot
write("sys/bus/pci/slots/6/attention", "0")
write("dev/nvme0n1", "")
link("dev/disk/by-id/nvme-SAMSUNG_MZQL2960HCJR-00A07_S64FNE0R812345", "../../nvme0n1")
link("dev/disk/by-id/nvme-eui.36344630528123450025384500000001", "../../nvme0n1")
link("dev/disk/by-path/pci-0000:05:00.0-nvme-1", "../../nvme0n1")
# A loop device: never a disk.
write("sys/block/loop0/size", "0")
