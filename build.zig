//! keel build: `zig build` (keel, keel-bench, unit tests, microbenchmarks),
//! `zig build run`, `zig build test`, `zig build bench`, `zig build asan`, `zig build fuzz`.
//! Sources are found by walking the tree, so adding a .c file needs no edit here:
//!   src/{core,proto,app}/*.c   -> libkeel (src/app/main.c -> the keel binary)
//!   bench/keel-bench/*.c       -> keel-bench
//!   tests/unit/**/test_*.c     -> one test binary each (zig-out/tests/)
//!   bench/micro/*.c            -> one microbenchmark each (zig-out/bench/)
//!   fuzz/*.c                   -> one libFuzzer driver each (clang, zig-out/fuzz/)
//! The ASan+UBSan build uses Debian's clang-14 because zig cc ships no sanitizer
//! runtimes and traps on UB without a report; it lands in zig-out/asan/.
const std = @import("std");

const cflags = [_][]const u8{
    "-std=c11",               "-D_GNU_SOURCE",     "-Wall",              "-Wextra",
    "-Werror",                "-Wmissing-prototypes", "-Wstrict-prototypes", "-Wvla",
    "-Wshadow",               "-Wno-unused-parameter", "-Wpointer-arith", "-Wformat=2",
    "-fno-strict-aliasing",
};
const syslibs = [_][]const u8{ "uring", "pq", "deflate", "mimalloc", "pthread", "m" };
const clang = "clang-14";

fn listC(b: *std.Build, dir: []const u8, recursive: bool, prefix: ?[]const u8) [][]const u8 {
    var out = std.ArrayList([]const u8).init(b.allocator);
    var d = b.build_root.handle.openDir(dir, .{ .iterate = true }) catch return out.items;
    defer d.close();
    var walker = d.walk(b.allocator) catch @panic("walk");
    defer walker.deinit();
    while (walker.next() catch @panic("walk")) |e| {
        if (e.kind != .file or !std.mem.endsWith(u8, e.basename, ".c")) continue;
        if (!recursive and std.mem.indexOfScalar(u8, e.path, '/') != null) continue;
        if (prefix) |p| if (!std.mem.startsWith(u8, e.basename, p)) continue;
        out.append(b.fmt("{s}/{s}", .{ dir, e.path })) catch @panic("oom");
    }
    std.mem.sort([]const u8, out.items, {}, struct {
        fn lt(_: void, a: []const u8, c: []const u8) bool {
            return std.mem.lessThan(u8, a, c);
        }
    }.lt);
    return out.items;
}

fn stem(path: []const u8) []const u8 {
    const base = std.fs.path.basename(path);
    return base[0 .. base.len - 2];
}

fn linkAll(c: *std.Build.Step.Compile) void {
    c.linkLibC();
    for (syslibs) |l| c.linkSystemLibrary(l);
}

pub fn build(b: *std.Build) void {
    const target = b.standardTargetOptions(.{});
    const optimize = b.option(std.builtin.OptimizeMode, "optimize", "default ReleaseFast") orelse .ReleaseFast;

    var lib_srcs = std.ArrayList([]const u8).init(b.allocator);
    for ([_][]const u8{ "src/core", "src/proto", "src/app" }) |dir| {
        for (listC(b, dir, false, null)) |f| {
            if (!std.mem.eql(u8, f, "src/app/main.c")) lib_srcs.append(f) catch @panic("oom");
        }
    }
    const bench_srcs = listC(b, "bench/keel-bench", false, null);
    const unit_srcs = listC(b, "tests/unit", true, "test_");
    const micro_srcs = listC(b, "bench/micro", false, null);
    const fuzz_srcs = listC(b, "fuzz", false, null);

    const lib = b.addStaticLibrary(.{ .name = "keel", .target = target, .optimize = optimize });
    lib.addCSourceFiles(.{ .files = lib_srcs.items, .flags = &cflags });
    lib.addIncludePath(b.path("src"));
    // Headers only: linking system libraries into a static lib would bundle the .so files.
    lib.addSystemIncludePath(.{ .cwd_relative = "/usr/include/postgresql" });
    lib.linkLibC();

    const exe = b.addExecutable(.{ .name = "keel", .target = target, .optimize = optimize });
    exe.addCSourceFile(.{ .file = b.path("src/app/main.c"), .flags = &cflags });
    exe.addIncludePath(b.path("src"));
    exe.linkLibrary(lib);
    linkAll(exe);
    b.installArtifact(exe);

    const has_bench_main = for (bench_srcs) |f| {
        if (std.mem.endsWith(u8, f, "/main.c")) break true;
    } else false;
    if (has_bench_main) {
        const kb = b.addExecutable(.{ .name = "keel-bench", .target = target, .optimize = optimize });
        kb.addCSourceFiles(.{ .files = bench_srcs, .flags = &cflags });
        kb.addIncludePath(b.path("src"));
        kb.addIncludePath(b.path("bench/keel-bench"));
        kb.linkLibrary(lib);
        linkAll(kb);
        b.installArtifact(kb);
    }

    const unit_step = b.step("unit", "build unit tests into zig-out/tests");
    for (unit_srcs) |src| {
        const t = b.addExecutable(.{ .name = stem(src), .target = target, .optimize = .Debug });
        t.addCSourceFile(.{ .file = b.path(src), .flags = &cflags });
        t.addIncludePath(b.path("src"));
        t.addIncludePath(b.path("tests/unit"));
        t.addIncludePath(b.path("bench/keel-bench"));
        // Unit tests may #include a .c under test to reach its statics; link the rest normally.
        t.linkLibrary(lib);
        linkAll(t);
        const inst = b.addInstallArtifact(t, .{ .dest_dir = .{ .override = .{ .custom = "tests" } } });
        unit_step.dependOn(&inst.step);
        b.getInstallStep().dependOn(&inst.step);
    }

    const micro_step = b.step("micro", "build microbenchmarks into zig-out/bench");
    const bench_step = b.step("bench", "build and run every microbenchmark");
    for (micro_srcs) |src| {
        const m = b.addExecutable(.{ .name = stem(src), .target = target, .optimize = .ReleaseFast });
        m.addCSourceFile(.{ .file = b.path(src), .flags = &cflags });
        m.addIncludePath(b.path("src"));
        m.addIncludePath(b.path("bench/keel-bench"));
        m.addIncludePath(b.path("bench/micro"));
        m.linkLibrary(lib);
        linkAll(m);
        const inst = b.addInstallArtifact(m, .{ .dest_dir = .{ .override = .{ .custom = "bench" } } });
        micro_step.dependOn(&inst.step);
        b.getInstallStep().dependOn(&inst.step);
        const r = b.addRunArtifact(m);
        r.step.dependOn(&inst.step);
        bench_step.dependOn(&r.step);
    }

    // ASan+UBSan build with clang-14: every lib object once, then keel and each unit test.
    const asan_step = b.step("asan", "ASan+UBSan build of keel and the unit tests (zig-out/asan)");
    const san = [_][]const u8{ "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer", "-g", "-O1" };
    var asan_objs = std.ArrayList(std.Build.LazyPath).init(b.allocator);
    for (lib_srcs.items) |src| {
        const cc = b.addSystemCommand(&.{ clang, "-c" });
        cc.addArgs(&cflags);
        cc.addArgs(&san);
        cc.addPrefixedDirectoryArg("-I", b.path("src"));
        cc.addArg("-isystem/usr/include/postgresql");
        cc.addFileArg(b.path(src));
        // Headers are inputs too: the depfile makes a header change rebuild the object.
        cc.addArgs(&.{ "-MD", "-MF" });
        _ = cc.addDepFileOutputArg(b.fmt("{s}.d", .{stem(src)}));
        cc.addArg("-o");
        asan_objs.append(cc.addOutputFileArg(b.fmt("{s}.o", .{stem(src)}))) catch @panic("oom");
    }
    const asan_mains = [_][]const u8{"src/app/main.c"};
    var asan_targets = std.ArrayList([]const u8).init(b.allocator);
    asan_targets.appendSlice(&asan_mains) catch @panic("oom");
    asan_targets.appendSlice(unit_srcs) catch @panic("oom");
    // An archive, not loose objects: a test that #includes a .c must win over its object.
    const ar = b.addSystemCommand(&.{ "llvm-ar-14", "rcs" });
    const archive = ar.addOutputFileArg("libkeel-asan.a");
    for (asan_objs.items) |o| ar.addFileArg(o);
    for (asan_targets.items) |src| {
        const name = if (std.mem.eql(u8, src, "src/app/main.c")) "keel" else stem(src);
        const ld = b.addSystemCommand(&.{clang});
        ld.addArgs(&cflags);
        ld.addArgs(&san);
        for ([_][]const u8{ "src", "tests/unit", "bench/keel-bench" }) |d| ld.addPrefixedDirectoryArg("-I", b.path(d));
        ld.addArg("-isystem/usr/include/postgresql");
        ld.addFileArg(b.path(src));
        ld.addArgs(&.{ "-MD", "-MF" });
        _ = ld.addDepFileOutputArg(b.fmt("{s}.d", .{name}));
        ld.addFileArg(archive);
        for (syslibs) |l| ld.addArg(b.fmt("-l{s}", .{l}));
        ld.addArg("-o");
        const out = ld.addOutputFileArg(name);
        const inst = b.addInstallFileWithDir(out, .{ .custom = "asan" }, name);
        asan_step.dependOn(&inst.step);
    }

    // libFuzzer drivers (clang-14, -fsanitize=fuzzer,address,undefined) over the proto sources.
    const fuzz_step = b.step("fuzz", "build libFuzzer drivers into zig-out/fuzz");
    var proto_srcs = std.ArrayList([]const u8).init(b.allocator);
    for (lib_srcs.items) |f| if (std.mem.startsWith(u8, f, "src/proto/") or std.mem.startsWith(u8, f, "src/core/")) proto_srcs.append(f) catch @panic("oom");
    for (fuzz_srcs) |src| {
        const cc = b.addSystemCommand(&.{ clang, "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=undefined", "-g", "-O1", "-std=c11", "-D_GNU_SOURCE" });
        cc.addPrefixedDirectoryArg("-I", b.path("src"));
        cc.addArg("-isystem/usr/include/postgresql");
        cc.addFileArg(b.path(src));
        for (proto_srcs.items) |p| cc.addFileArg(b.path(p));
        cc.addArgs(&.{ "-MD", "-MF" });
        _ = cc.addDepFileOutputArg(b.fmt("{s}.d", .{stem(src)}));
        for (syslibs) |l| cc.addArg(b.fmt("-l{s}", .{l}));
        cc.addArg("-o");
        const out = cc.addOutputFileArg(stem(src));
        const inst = b.addInstallFileWithDir(out, .{ .custom = "fuzz" }, stem(src));
        fuzz_step.dependOn(&inst.step);
    }

    const run_cmd = b.addRunArtifact(exe);
    if (b.args) |args| run_cmd.addArgs(args);
    b.step("run", "run keel").dependOn(&run_cmd.step);

    const test_cmd = b.addSystemCommand(&.{ "python3", "tests/run.py" });
    test_cmd.step.dependOn(b.getInstallStep());
    test_cmd.step.dependOn(asan_step);
    test_cmd.step.dependOn(fuzz_step);
    b.step("test", "build everything and run the whole test suite").dependOn(&test_cmd.step);
}
