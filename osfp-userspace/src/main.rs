use clap::Parser;
use osfp::{
    cli::{Cli, Command},
    commands,
};

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let res = match &cli.command {
        Command::Run(a) => commands::run::run(a),
        Command::Pcap(a) => commands::pcap::run(a),
        Command::Db(c) => commands::db::run(c),
    };
    match res {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("osfp: {e:#}");
            std::process::exit(1);
        }
    }
}
