"""Driving a notebook in JupyterLab: open it, run all cells, wait until every cell has run."""
import re

from playwright.sync_api import expect


def open_notebook(page, lab, name):
    """Open ``name`` alone: ``reset`` drops the workspace, which would otherwise reopen the
    notebooks of earlier tests in hidden tabs (their cells would match the locators too)."""
    page.goto(f"{lab.url}/lab/tree/{name}?reset&token={lab.token}")
    expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=60_000)
    expect(page.locator(".jp-NotebookPanel")).to_have_count(1)
    expect(page.locator(".lm-TabBar-tab.jp-mod-current", has_text=name).first).to_be_visible()
    # The idle indicator shows before the kernel is really up; the status bar says "| Idle".
    expect(page.locator(".jp-StatusBar-Widget", has_text="| Idle").first).to_be_visible(
        timeout=60_000)


def run_all(page):
    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel:has-text('Run')").click()
    page.locator("li.lm-Menu-item[data-command='runmenu:run-all']").click()


def wait_for_all_cells(page, timeout=240_000):
    """Every code cell has run: no '[*]' or '[ ]' prompt is left (the kernel stops at the
    first failing cell, leaving the next ones unrun) and no cell shows a traceback."""
    prompts = page.locator(".jp-CodeCell .jp-InputPrompt")
    expect(prompts.last).to_have_text(re.compile(r"\[\d+\]"), timeout=timeout)
    texts = prompts.all_inner_texts()
    assert all(re.fullmatch(r"\[\d+\]:?", t.strip()) for t in texts), texts
    expect(page.locator(".jp-OutputArea-output", has_text="Traceback (most recent call last)")
           ).to_have_count(0)
