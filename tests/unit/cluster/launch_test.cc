#include "cluster/launch.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "cluster/world.h"
#include "common/error.h"

namespace vlm::cluster {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

SlurmJob two_node_job() {
  SlurmJob job;
  job.command = {"/opt/vlm/bin/vlm-worker",
                 "/home/me/recipes/vdep.yaml",
                 {"run_dir=/scratch/runs/vdep-{job_id}", "optimizer.lr=2e-5"}};
  job.job_name = "vlm-vdep";
  job.nodes = 2;
  job.ranks_per_node = 8;
  job.partition = "gpu";
  job.time_limit = "1-00:00:00";
  job.grace_s = 180;
  job.output = "/scratch/runs/vlm-vdep-%j.out";
  return job;
}

TEST(SbatchScript, AsksForTheWarningTheRequeueAndTheShape) {
  const std::string script = sbatch_script(two_node_job());
  EXPECT_EQ(script.rfind("#!/bin/bash\n", 0), 0u);
  for (const char* line :
       {"#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=8", "#SBATCH --partition=gpu",
        "#SBATCH --time=1-00:00:00", "#SBATCH --signal=USR1@180", "#SBATCH --requeue",
        "#SBATCH --open-mode=append", "#SBATCH --output=/scratch/runs/vlm-vdep-%j.out"}) {
    EXPECT_TRUE(has_line(script, line)) << line << "\n" << script;
  }
  EXPECT_NE(script.find("srun --mpi=pmix --kill-on-bad-exit=1 /opt/vlm/bin/vlm-worker --recipe "
                        "/home/me/recipes/vdep.yaml --set '"
                        "run_dir=/scratch/runs/vdep-{job_id}' "
                        "--set optimizer.lr=2e-5\n"),
            std::string::npos)
      << script;
  // Requeues itself after a preemption (75) or a lost rank (76), and after nothing else.
  EXPECT_TRUE(has_line(script, "case $status in"));
  EXPECT_NE(script.find("\n  75) echo"), std::string::npos);
  EXPECT_NE(script.find("\n  76) echo"), std::string::npos);
  EXPECT_TRUE(has_line(script, "  *) exit \"$status\" ;;"));
  EXPECT_TRUE(has_line(script, "scontrol requeue \"$SLURM_JOB_ID\""));
  EXPECT_TRUE(has_line(script, "exit \"$status\""));
}

TEST(SbatchScript, LeavesOutWhatIsNotGivenAndCanUseMpirun) {
  SlurmJob job = two_node_job();
  job.partition.clear();
  job.time_limit.clear();
  job.launcher = "mpirun";
  const std::string script = sbatch_script(job);
  EXPECT_EQ(script.find("--partition"), std::string::npos);
  EXPECT_EQ(script.find("--time"), std::string::npos);
  EXPECT_NE(script.find("\nmpirun --bind-to none /opt/vlm/bin/vlm-worker"), std::string::npos);
}

TEST(SbatchScript, RejectsBadShapes) {
  SlurmJob job = two_node_job();
  job.nodes = 0;
  EXPECT_THROW(sbatch_script(job), ConfigError);
  job = two_node_job();
  job.launcher = "pdsh";
  EXPECT_THROW(sbatch_script(job), ConfigError);
}

TEST(MpirunCommand, AddsWhatThisMachineNeeds) {
  LocalJob job;
  job.command = {"/b/vlm-worker", "/r.yaml", {"training.max_steps=5"}};
  job.ranks = 4;
  job.cores = 2;
  job.as_root = true;
  const std::vector<std::string> want = {"mpirun",
                                         "-np",
                                         "4",
                                         "--oversubscribe",
                                         "--allow-run-as-root",
                                         "--bind-to",
                                         "none",
                                         "/b/vlm-worker",
                                         "--recipe",
                                         "/r.yaml",
                                         "--set",
                                         "training.max_steps=5"};
  EXPECT_EQ(mpirun_command(job), want);
  job.ranks = 2;
  job.as_root = false;
  const auto words = mpirun_command(job);
  EXPECT_EQ(std::count(words.begin(), words.end(), "--oversubscribe"), 0);
  EXPECT_EQ(std::count(words.begin(), words.end(), "--allow-run-as-root"), 0);
}

TEST(Grace, CoversAStepAndASaveTwiceAndAtLeastAMinute) {
  EXPECT_EQ(grace_seconds(0.2, 1.0), 60);
  EXPECT_EQ(grace_seconds(30.0, 45.5), 151);
  EXPECT_EQ(grace_seconds(-1.0, 0.0), 60);
}

TEST(ShellQuote, QuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(shell_quote("/a/b-c_d.yaml"), "/a/b-c_d.yaml");
  EXPECT_EQ(shell_quote("a b"), "'a b'");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(shell_quote(""), "''");
  EXPECT_EQ(shell_quote("$HOME"), "'$HOME'");
}

TEST(World, JobIdNamesTheRunDirectory) {
  World world;
  EXPECT_EQ(expand_job_id("runs/x-{job_id}", world), "runs/x-local");
  world.job_id = "4242";
  EXPECT_EQ(expand_job_id("runs/{job_id}/x-{job_id}", world), "runs/4242/x-4242");
  EXPECT_EQ(expand_job_id("runs/plain", world), "runs/plain");
  world.restart_count = 1;
  world.hostname = "node7";
  EXPECT_EQ(describe(world, "cpu"),
            "rank 0 of 1 on node7 (local rank 0 of 1, device cpu), Slurm job 4242 attempt 2");
}

}  // namespace
}  // namespace vlm::cluster
