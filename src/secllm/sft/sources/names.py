"""Names of labels and catalogue fields in English and Chinese, written for the instruction templates.

The Chinese names are the usual Chinese security terms (e.g. MITRE's tactics as commonly translated);
catalogue text itself stays English inside Chinese answers (the catalogues ship in English only).
"""

from __future__ import annotations

LABELS = {
    # web attack types (secllm.data.sources.WEB_LABELS)
    "sqli": ("SQL injection", "SQL 注入"),
    "xss": ("cross-site scripting (XSS)", "跨站脚本攻击（XSS）"),
    "cmdi": ("OS command injection", "操作系统命令注入"),
    "path-traversal": ("path traversal", "路径遍历"),
    "rfi": ("remote file inclusion", "远程文件包含"),
    "ldap-injection": ("LDAP injection", "LDAP 注入"),
    "xpath-injection": ("XPath injection", "XPath 注入"),
    "nosqli": ("NoSQL injection", "NoSQL 注入"),
    "xxe": ("XML external entity injection (XXE)", "XML 外部实体注入（XXE）"),
    "ssi": ("server-side include injection", "服务端包含（SSI）注入"),
    "open-redirect": ("open redirect", "开放重定向"),
    "format-string": ("format string attack", "格式化字符串攻击"),
    # URL classes (ISCX-URL-2016)
    "phishing": ("phishing", "钓鱼"),
    "malware": ("malware distribution", "恶意软件分发"),
    "spam": ("spam", "垃圾信息"),
    "defacement": ("defacement", "网页篡改"),
    # logs, scripts
    "alert": ("an alert (failure event)", "告警（故障事件）"),
    "normal": ("normal operation", "正常运行"),
    "malicious": ("malicious", "恶意"),
    "benign": ("benign", "良性"),
}

TACTICS_ZH = {
    "reconnaissance": "侦察", "resource-development": "资源开发", "initial-access": "初始访问",
    "execution": "执行", "persistence": "持久化", "privilege-escalation": "权限提升",
    "defense-evasion": "防御规避", "credential-access": "凭据访问", "discovery": "发现",
    "lateral-movement": "横向移动", "collection": "收集", "command-and-control": "命令与控制",
    "exfiltration": "数据渗出", "impact": "影响",
}

PHASES_ZH = {
    "Architecture and Design": "架构与设计", "Implementation": "实现", "Operation": "运行",
    "Build and Compilation": "构建与编译", "Requirements": "需求", "Testing": "测试",
    "System Configuration": "系统配置", "Installation": "安装", "Policy": "策略", "Patching and Maintenance": "补丁与维护",
    "Documentation": "文档", "Distribution": "分发", "Deployment": "部署", "Integration": "集成",
    "Manufacturing": "制造", "Decommissioning and End-of-Life": "退役",
}

DETECTION_METHODS_ZH = {
    "Automated Static Analysis": "自动化静态分析", "Automated Static Analysis - Source Code": "自动化静态分析（源代码）",
    "Automated Static Analysis - Binary or Bytecode": "自动化静态分析（二进制/字节码）",
    "Automated Dynamic Analysis": "自动化动态分析", "Manual Analysis": "人工分析",
    "Manual Static Analysis": "人工静态分析", "Manual Static Analysis - Source Code": "人工静态分析（源代码）",
    "Manual Static Analysis - Binary or Bytecode": "人工静态分析（二进制/字节码）",
    "Manual Dynamic Analysis": "人工动态分析", "Dynamic Analysis with Automated Results Interpretation":
    "动态分析（自动解读结果）", "Dynamic Analysis with Manual Results Interpretation": "动态分析（人工解读结果）",
    "Fuzzing": "模糊测试", "Black Box": "黑盒测试", "White Box": "白盒测试", "Architecture or Design Review": "架构或设计评审",
    "Formal Verification": "形式化验证", "Simulation / Emulation": "仿真/模拟", "Automated Analysis": "自动化分析",
}


def label_name(label: str, lang: str) -> str:
    """``label_name("sqli", "zh") == "SQL 注入"``; unknown labels come back as they are."""
    en, zh = LABELS.get(label, (label, label))
    return zh if lang == "zh" else en
