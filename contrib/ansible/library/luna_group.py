#!/usr/bin/python3
# Ansible module luna_group: a Luna group (contrib/ansible/README.md).
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.luna import COMMENT, YESNO, common_args, ensure

DOCUMENTATION = r"""
module: luna_group
short_description: Luna group objects, through the luna CLI
options:
  name: {description: name of the group, required: true, type: str}
  state: {description: present or absent, default: present, type: str}
  luna_bin: {description: the luna command, default: luna, type: str}
  new_name: {description: the group's name afterwards (renamed from name when that exists), type: str}
  comment: {description: the group's comment (passed on stdin), type: str}
  osimage: {type: str}
  network: {description: network of BOOTIF (at creation only), type: str}
  bmcsetup: {type: str}
  domain: {type: str}
  torrent_if: {type: str}
  prescript: {description: script run before partitioning (passed on stdin), type: str}
  partscript: {description: partitioning script (passed on stdin), type: str}
  postscript: {description: script run after unpacking the image (passed on stdin), type: str}
"""

ADD = [("osimage", "-o"), ("network", "-N"), ("bmcsetup", "-b")]
FIELDS = [
    ("osimage", "osimage", "-o", str),
    ("bmcsetup", "bmcsetup", "-b", str),
    ("domain", "domain", "-d", str),
    ("torrent_if", "torrent_if", "--torrent_if", str),
]
# Text options: luna reads them on stdin, one per command.
TEXTS = COMMENT + [("prescript", "--prescript"), ("partscript", "--partscript"), ("postscript", "--postscript")]


def main():
    spec = common_args()
    for param, _key, _flag, typ in FIELDS:
        spec[param] = dict(type="bool" if typ == YESNO else ("int" if typ == int else "str"))
    for param, _flag in ADD:
        spec.setdefault(param, dict(type="str"))
    for param, _flag in TEXTS:
        spec[param] = dict(type="str")
    spec["new_name"] = dict(type="str")
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    ensure(module, "group", ADD, FIELDS, rename=True, texts=TEXTS)


if __name__ == "__main__":
    main()
