"""Learning mode: site and system profiles learned from normal traffic, without labels.

    >>> from secllm.profile import learn_profile, ProfileScorer        # doctest: +SKIP
    >>> prof = learn_profile(normal_requests, "shop")                    # doctest: +SKIP
    >>> ProfileScorer.load("shop").score(["GET /backup.zip HTTP/1.1\\r\\n\\r\\n"])[0].evidence   # doctest: +SKIP
    ['endpoint `/backup.zip` never seen', 'file extension `.zip` never seen']

Modules: ``structure`` (Kruegel & Vigna style request structure), ``density`` (Gaussians over the
detector encoder's representations), ``logs`` (line templates and session statistics), ``sequence``
(event sequences read like a language: STIDE, Kneser-Ney and neural LMs, ``seqlm``; ``vocab``),
``stats`` (calibration and p-value combination), ``site`` (learning, scoring, the profile artifact).
"""

from secllm.profile.site import (
    ProfileError,
    ProfileResult,
    ProfileScorer,
    SiteProfile,
    learn_profile,
    list_profiles,
    load_profile,
    profiles_dir,
    remove_profile,
)

__all__ = ["ProfileError", "ProfileResult", "ProfileScorer", "SiteProfile", "learn_profile", "list_profiles",
           "load_profile", "profiles_dir", "remove_profile"]
