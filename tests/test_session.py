"""The session factory's quiet parts: where the Delta jars come from, the JVM's log options."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from streaming_obs import logs, session
from streaming_obs.errors import DeltaJarsError


def test_named_jars_win_and_a_missing_one_is_one_line(settings, tmp_path, monkeypatch):
    jar = tmp_path / "delta-spark.jar"
    jar.write_bytes(b"")
    monkeypatch.setenv(session.JARS_ENV, f"{jar}, ")
    assert session.delta_jars(settings) == [str(jar)]
    monkeypatch.setenv(session.JARS_ENV, str(tmp_path / "nope.jar"))
    with pytest.raises(DeltaJarsError, match="names a jar that does not exist: .*nope.jar"):
        session.delta_jars(settings)


def test_settings_jars_then_the_cache_without_resolving(make_settings, tmp_path, monkeypatch):
    monkeypatch.delenv(session.JARS_ENV, raising=False)
    monkeypatch.setenv("STREAMING_OBS_CACHE", str(tmp_path / "cache"))
    assert session.delta_jars(make_settings(spark={"jars": ["/opt/a.jar"]})) == ["/opt/a.jar"]
    settings = make_settings()
    cache = session.jar_cache_dir(settings.spark.delta_package)
    assert str(cache).startswith(str(tmp_path / "cache" / "jars"))
    (cache / "jars").mkdir(parents=True)
    jar = cache / "jars" / "io.delta_delta-spark.jar"
    jar.write_bytes(b"")
    (cache / "jars.txt").write_text(f"{jar}\n")
    monkeypatch.setattr(session, "_resolve", lambda *a, **k: pytest.fail("a cached set must not be resolved again"))
    assert session.delta_jars(settings) == [str(jar)]
    jar.unlink()  # a cache with a jar gone is a miss
    assert session._cached(cache) is None


def test_unreachable_maven_central_says_so_in_one_line_with_the_offline_route(make_settings, tmp_path, monkeypatch,
                                                                             capsys):
    """The real resolver (Spark's Ivy, in a subprocess) with every connection refused."""
    monkeypatch.delenv(session.JARS_ENV, raising=False)
    monkeypatch.setenv("STREAMING_OBS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.m2 or ~/.ivy2 to fall back on
    # A proxy on a port nothing listens on: every download is refused, like a machine offline.
    monkeypatch.setenv("JDK_JAVA_OPTIONS", "-Dhttps.proxyHost=127.0.0.1 -Dhttps.proxyPort=9 "
                                           "-Dhttp.proxyHost=127.0.0.1 -Dhttp.proxyPort=9")
    settings = make_settings(spark={"delta_package": "io.delta:delta-storage:4.4.0"})
    with pytest.raises(DeltaJarsError) as err:
        session.delta_jars(settings, timeout_s=240)
    message = str(err.value)
    assert "\n" not in message and "Maven Central is not reachable" in message
    assert session.JARS_ENV in message
    assert capsys.readouterr().err.count("fetching Delta Lake jars, first run only") == 1
    assert session._cached(session.jar_cache_dir("io.delta:delta-storage:4.4.0")) is None


def test_driver_options_carry_utc_the_shipped_log4j_config_and_the_log_file(settings, tmp_path, monkeypatch):
    monkeypatch.setitem(logs._state, "file", str(tmp_path / "run.log"))
    monkeypatch.setitem(logs._state, "verbose", False)
    conf = session.local_conf(settings, ["/opt/a.jar", "/opt/b.jar"])
    opts = conf["spark.driver.extraJavaOptions"]
    assert "-Duser.timezone=UTC" in opts and f"-Dstreaming_obs.log.file={tmp_path / 'run.log'}" in opts
    assert "-Dstreaming_obs.console.level=ERROR" in opts
    config = Path(session.log4j_config())
    assert f"-Dlog4j.configurationFile={config}" in opts and config.is_file()
    assert "${sys:streaming_obs.console.level:-ERROR}" in config.read_text()
    assert conf["spark.jars"] == "/opt/a.jar,/opt/b.jar" and "spark.jars.packages" not in conf
    monkeypatch.setitem(logs._state, "verbose", True)
    assert "-Dstreaming_obs.console.level=INFO" in session.local_conf(settings)["spark.driver.extraJavaOptions"]


def test_a_users_driver_options_keep_ours_underneath(make_settings):
    conf = session.local_conf(make_settings(spark={"conf": {"spark.driver.extraJavaOptions": "-Xss4m"}}))
    opts = conf["spark.driver.extraJavaOptions"]
    assert opts.endswith("-Xss4m") and "-Duser.timezone=UTC" in opts


def test_stop_spark_leaves_a_session_it_did_not_build_alone():
    class _S:
        stopped = False

        def stop(self):
            self.stopped = True

    reused, built = _S(), _S()
    session._BUILT.add(id(built))
    session.stop_spark(reused)
    session.stop_spark(built)
    session.stop_spark(None)
    assert not reused.stopped and built.stopped


def test_files_shipped_inside_a_zipped_wheel_are_copied_out_for_the_jvm(tmp_path, monkeypatch):
    """spark-submit --py-files imports the package from the wheel itself: the JVM cannot open a
    path inside the zip, so the pools file must land on disk (the CI failure of a cluster run)."""
    import zipfile

    shipped = (Path(session.__file__).parent / "fairscheduler.xml").read_bytes()
    wheel = tmp_path / "streaming_obs-0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("streaming_obs/fairscheduler.xml", shipped)
    monkeypatch.setattr(session.resources, "files", lambda pkg: zipfile.Path(wheel, f"{pkg}/"))
    monkeypatch.setattr(session.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    path = Path(session.scheduler_pools())
    assert path.is_file() and path.read_bytes() == shipped
    assert str(tmp_path / "tmp") in str(path) and ".whl" not in str(path)
    assert session.scheduler_pools() == str(path)  # the same content: the same file, not a new copy


def test_jdk_tool_takes_java_home_first_else_the_directory_of_the_java_on_path(tmp_path, monkeypatch):
    from streaming_obs.session import jdk_tool

    home = tmp_path / "jdk"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "jfr").write_text("")
    monkeypatch.setenv("JAVA_HOME", str(home))
    assert jdk_tool("jfr") == str(home / "bin" / "jfr")
    assert jdk_tool("jcmd") is None  # not in that JDK
    # no JAVA_HOME: beside the java on PATH, through its link (as /usr/bin/java -> the JDK's bin)
    monkeypatch.delenv("JAVA_HOME")
    (home / "bin" / "java").write_text("#!/bin/sh\n")
    (home / "bin" / "java").chmod(0o755)
    links = tmp_path / "usr-bin"
    links.mkdir()
    os.symlink(home / "bin" / "java", links / "java")
    monkeypatch.setenv("PATH", str(links))
    assert jdk_tool("jfr") == str(home / "bin" / "jfr")
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert jdk_tool("jfr") is None
