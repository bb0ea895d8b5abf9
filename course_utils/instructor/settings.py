"""The course settings of ``course.toml``: the course's title and its public student repository.

The release writes them into every student notebook (the Colab badge and the setup cell) and the
publication writes them into the student course. Nothing else in the code names the repository.
"""

import dataclasses
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover (Python 3.10)
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
COURSE_TOML = ROOT / "course.toml"
GITHUB = re.compile(r"https://github\.com/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?")
SAFE = re.compile(r"[A-Za-z0-9_./@+-]+")  # what a ref or a folder may contain (it lands in code and URLs)


@dataclasses.dataclass(frozen=True)
class Course:
    title: str
    url: str          # https://github.com/<owner>/<repo>: Colab opens notebooks from GitHub only
    ref: str          # the branch or tag students get
    colab_dir: str    # where the setup cell clones the course on Colab
    hand_in: str
    clone_url: str = ""  # what the setup cell clones, if not ``url`` (a mirror, or a file:// URL in tests)

    def __post_init__(self):
        if not GITHUB.fullmatch(self.url):
            raise ValueError(f"course.toml: student_repository.url must be https://github.com/<owner>/<repo>, "
                             f"not {self.url!r} (Colab opens notebooks from GitHub only)")
        for name in ("ref", "colab_dir"):
            if not SAFE.fullmatch(getattr(self, name)) or ".." in getattr(self, name):
                raise ValueError(f"course.toml: {name} {getattr(self, name)!r} may only hold letters, digits "
                                 f"and _ . / @ + -")
        if self.clone_url and not re.fullmatch(r"[^\s\"'\\]+", self.clone_url):
            raise ValueError(f"course.toml: clone_url {self.clone_url!r} may not hold spaces, quotes or backslashes")
        if not self.colab_dir.startswith("/"):
            raise ValueError(f"course.toml: colab.dir must be an absolute path, not {self.colab_dir!r}")

    @property
    def repo(self):
        """``owner/repo``."""
        return "/".join(GITHUB.fullmatch(self.url).groups())

    @property
    def git_url(self):
        return self.clone_url or f"https://github.com/{self.repo}.git"

    def colab_url(self, path):
        """The Colab page that opens ``path`` (relative to the published course) at ``ref``."""
        return f"https://colab.research.google.com/github/{self.repo}/blob/{self.ref}/{path}"


def load(path=COURSE_TOML):
    """The settings of ``path`` (default: ``course.toml`` at the repository root)."""
    with open(path, "rb") as f:
        toml = tomllib.load(f)
    try:
        return Course(title=toml["course"]["title"], hand_in=toml["course"]["hand_in"],
                      url=toml["student_repository"]["url"], ref=toml["student_repository"]["ref"],
                      colab_dir=toml["colab"]["dir"], clone_url=toml["student_repository"].get("clone_url", ""))
    except KeyError as err:
        raise ValueError(f"{path}: missing setting {err}") from None
