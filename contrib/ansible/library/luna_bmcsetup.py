#!/usr/bin/python3
# Ansible module luna_bmcsetup: a Luna bmcsetup (contrib/ansible/README.md).
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.luna import YESNO, common_args, ensure

DOCUMENTATION = r"""
module: luna_bmcsetup
short_description: Luna bmcsetup objects, through the luna CLI
options:
  name: {description: name of the bmcsetup, required: true, type: str}
  state: {description: present or absent, default: present, type: str}
  luna_bin: {description: the luna command, default: luna, type: str}
  comment: {description: the bmcsetup's comment (passed on stdin), type: str}
  user: {type: str}
  password: {type: str, no_log: true}
  userid: {type: int}
  netchannel: {type: int}
  mgmtchannel: {type: int}
"""

ADD = [("user", "-u"), ("password", "-p"), ("userid", "-I"), ("netchannel", "-N"), ("mgmtchannel", "-M")]
FIELDS = [
    ("user", "user", "-u", str),
    ("password", "password", "-p", str),
    ("userid", "userid", "-I", int),
    ("netchannel", "netchannel", "-N", int),
    ("mgmtchannel", "mgmtchannel", "-M", int),
]


def main():
    spec = common_args()
    for param, _key, _flag, typ in FIELDS:
        spec[param] = dict(type="bool" if typ == YESNO else ("int" if typ == int else "str"))
    for param, _flag in ADD:
        spec.setdefault(param, dict(type="str"))
    spec["password"]["no_log"] = True
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    ensure(module, "bmcsetup", ADD, FIELDS)


if __name__ == "__main__":
    main()
